//! What the bytes are, told by their magic numbers, and the derivatives made from images
//! (thumbnails, a GIF's first frame as a still), decoded within fixed bounds so a
//! decompression bomb or a truncated file is refused instead of exhausting memory.
//!
//! A JPEG that only feeds a thumbnail or poster is decoded at 1/2, 1/4 or 1/8 scale in the
//! DCT domain (`jpeg-decoder`), as libvips does, and pictures are scaled down with SIMD
//! (`fast_image_resize`): a 12-megapixel photo's thumbnail then costs a fraction of a full
//! decode, in time and in memory.
//!
//! Everything here is synchronous CPU work: callers run it in `spawn_blocking`.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, GrayImage, ImageFormat, ImageReader, Limits, RgbImage};
use std::io::Cursor;

/// Widest or tallest image decoded.
pub const MAX_SIDE: u32 = 8_000;
/// Most pixels decoded (40 megapixels: 160 MB as RGBA).
pub const MAX_PIXELS: u64 = 40_000_000;
/// Most memory one decode may allocate.
pub const MAX_ALLOC: u64 = 192 * 1024 * 1024;
/// Thumbnails fit within this square.
pub const THUMB_BOX: u32 = 320;
/// Posters fit within this square.
pub const POSTER_BOX: u32 = 640;
/// Most scans a JPEG may have (zune-jpeg's default limit): each scan of a progressive JPEG
/// is a pass over all of the image's coefficients, and a scan can take a few bytes, so a
/// small file with thousands of them would cost minutes.
pub const MAX_JPEG_SCANS: usize = 100;

/// The MIME type the first bytes show, if they show one we know.
pub fn sniff(b: &[u8]) -> Option<&'static str> {
    let at = |i: usize, magic: &[u8]| b.get(i..i + magic.len()) == Some(magic);
    Some(if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        "image/gif"
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        "image/webp"
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        "audio/wav"
    } else if at(4, b"ftyp") {
        if at(8, b"qt  ") {
            "video/quicktime"
        } else if at(8, b"M4A ") || at(8, b"M4B ") {
            "audio/mp4"
        } else {
            "video/mp4"
        }
    } else if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        "video/webm"
    } else if b.starts_with(b"OggS") {
        "audio/ogg"
    } else if b.starts_with(b"ID3") || (b.len() >= 2 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0) {
        "audio/mpeg"
    } else if b.starts_with(b"%PDF-") {
        "application/pdf"
    } else {
        return None;
    })
}

/// The decoder for an image MIME type we make derivatives of.
pub fn image_format(mime: &str) -> Option<ImageFormat> {
    Some(match mime {
        "image/jpeg" => ImageFormat::Jpeg,
        "image/png" => ImageFormat::Png,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::WebP,
        _ => return None,
    })
}

/// Decodes an image (a GIF's first frame) after checking the size its header claims,
/// under allocation limits. Any failure is a reason to refuse the file.
pub fn decode_bounded(bytes: &[u8], format: ImageFormat) -> Result<DynamicImage, String> {
    let (w, h) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| format!("unreadable {format:?} header: {e}"))?;
    check_size(w, h)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| format!("the {format:?} image cannot be decoded: {e}"))
}

/// Refuses a size the header claims that is empty or over the limits.
fn check_size(w: u32, h: u32) -> Result<(), String> {
    if w == 0 || h == 0 {
        return Err(format!("the image claims {w}×{h} pixels"));
    }
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!(
            "the image claims {w}×{h} pixels, over the {MAX_SIDE}×{MAX_SIDE} or {} megapixel limit",
            MAX_PIXELS / 1_000_000
        ));
    }
    Ok(())
}

/// Decodes an image for a picture that fits within `side`×`side`, within the same bounds as
/// [`decode_bounded`]: a JPEG at the smallest DCT scale (1/8, 1/4, 1/2 or 1) that still
/// leaves at least `side` pixels on its longer side, any other format full size.
pub fn decode_for(bytes: &[u8], format: ImageFormat, side: u32) -> Result<DynamicImage, String> {
    if format == ImageFormat::Jpeg {
        decode_jpeg_scaled(bytes, side)
    } else {
        decode_bounded(bytes, format)
    }
}

/// A JPEG decoded at reduced scale: the entropy-coded data is still read whole, but only
/// the scaled-down pixels are ever made, so memory follows the output's size.
fn decode_jpeg_scaled(bytes: &[u8], side: u32) -> Result<DynamicImage, String> {
    use jpeg_decoder::{CodingProcess, PixelFormat};
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder
        .read_info()
        .map_err(|e| format!("unreadable Jpeg header: {e}"))?;
    let info = decoder.info().ok_or("unreadable Jpeg header")?;
    check_size(u32::from(info.width), u32::from(info.height))?;
    // Every scan starts with an SOS marker, and entropy-coded data never holds one (its
    // 0xFF bytes are followed by 0x00 or a restart marker), so this counts scans from above.
    let scans = bytes.windows(2).filter(|w| w == &[0xFF, 0xDA]).count();
    if scans > MAX_JPEG_SCANS {
        return Err(format!(
            "the JPEG has {scans} scans, over the {MAX_JPEG_SCANS} scan limit"
        ));
    }
    let components: u64 = match info.pixel_format {
        PixelFormat::L8 => 1,
        PixelFormat::RGB24 => 3,
        // CMYK and 16-bit JPEGs are rare (print files, medical images): decoded full size
        // through `image`, which converts them.
        _ => return decode_bounded(bytes, ImageFormat::Jpeg),
    };
    // A progressive JPEG keeps every coefficient of the full-size image (two bytes each)
    // until its last scan, whatever the output scale.
    let coefficients = u64::from(info.width) * u64::from(info.height) * components * 2;
    if info.coding_process == CodingProcess::DctProgressive && coefficients > MAX_ALLOC {
        return Err(format!(
            "the progressive JPEG would need {} MiB of coefficients, over the {} MiB limit",
            coefficients >> 20,
            MAX_ALLOC >> 20
        ));
    }
    let side = u16::try_from(side).unwrap_or(u16::MAX);
    let (w, h) = decoder
        .scale(side, side)
        .map_err(|e| format!("the Jpeg image cannot be scaled: {e}"))?;
    decoder.set_max_decoding_buffer_size(usize::try_from(MAX_ALLOC).unwrap_or(usize::MAX));
    let pixels = decoder
        .decode()
        .map_err(|e| format!("the Jpeg image cannot be decoded: {e}"))?;
    let (w, h) = (u32::from(w), u32::from(h));
    let short = || format!("the Jpeg decoder gave too few pixels for {w}×{h}");
    Ok(if components == 1 {
        DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, pixels).ok_or_else(short)?)
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, pixels).ok_or_else(short)?)
    })
}

/// An encoded derivative and its MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub mime: &'static str,
    pub bytes: Vec<u8>,
}

impl Encoded {
    pub fn extension(&self) -> &'static str {
        if self.mime == "image/png" {
            "png"
        } else {
            "jpg"
        }
    }
}

/// The image scaled down (never up) to fit within `side`×`side`: PNG when it has
/// transparency, else JPEG.
pub fn fit_within(img: &DynamicImage, side: u32) -> Result<Encoded, String> {
    let small = if img.width() > side || img.height() > side {
        scale_down(img, side)?
    } else {
        img.clone()
    };
    if small.color().has_alpha() {
        png(&small)
    } else {
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(small.to_rgb8())
            .write_to(&mut out, ImageFormat::Jpeg)
            .map_err(|e| format!("encoding a JPEG: {e}"))?;
        Ok(Encoded {
            mime: "image/jpeg",
            bytes: out.into_inner(),
        })
    }
}

/// The image scaled to fit within `side`×`side`, keeping its aspect ratio (as
/// `DynamicImage::resize` does), with a triangle filter over SIMD.
fn scale_down(img: &DynamicImage, side: u32) -> Result<DynamicImage, String> {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let ratio = (f64::from(side) / w).min(f64::from(side) / h);
    // Within u32: both are at most `side` after the ratio.
    let fit = |len: f64| ((len * ratio).round() as u32).max(1);
    let mut small = DynamicImage::new(fit(w), fit(h), img.color());
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    match Resizer::new().resize(img, &mut small, &options) {
        Ok(()) => Ok(small),
        // Pixel types the SIMD resizer does not take (none that `image` decodes today).
        Err(fast_image_resize::ResizeError::ImageError(_)) => {
            Ok(img.resize(side, side, image::imageops::FilterType::Triangle))
        }
        Err(e) => Err(format!("scaling down: {e}")),
    }
}

/// The image as PNG, full size.
pub fn png(img: &DynamicImage) -> Result<Encoded, String> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .map_err(|e| format!("encoding a PNG: {e}"))?;
    Ok(Encoded {
        mime: "image/png",
        bytes: out.into_inner(),
    })
}

/// What is made from one image: its thumbnail, and for a GIF its first frame.
#[derive(Debug, Clone)]
pub struct Derived {
    pub thumbnail: Encoded,
    pub still: Option<Encoded>,
}

/// Decodes the image within bounds and makes its derivatives.
pub fn derive(bytes: &[u8], mime: &str) -> Result<Derived, String> {
    let format = image_format(mime).ok_or_else(|| format!("{mime} is not an image we read"))?;
    // A GIF, the one format with a still, is decoded full size.
    let img = decode_for(bytes, format, THUMB_BOX)?;
    let still = match format {
        ImageFormat::Gif => Some(png(&img)?),
        _ => None,
    };
    Ok(Derived {
        thumbnail: fit_within(&img, THUMB_BOX)?,
        still,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{AnimationDecoder, GenericImageView, Rgb, Rgba, RgbaImage};

    fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// A small PNG whose header claims `w`×`h`: an IHDR, a few bytes of compressed data
    /// and the end — the shape of a decompression bomb.
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 6, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in [
            (b"IHDR", ihdr),
            (
                b"IDAT",
                vec![0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
            ),
            (b"IEND", vec![]),
        ] {
            let mut chunk = kind.to_vec();
            chunk.extend(&data);
            out.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
            out.extend(&chunk);
            out.extend(crc32(&chunk).to_be_bytes());
        }
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn magic_bytes_tell_the_type() {
        let (_, png) = sandbox::facebook::MediaKind::Image.generate();
        let (_, gif) = sandbox::facebook::MediaKind::Gif.generate();
        let (_, mp4) = sandbox::facebook::MediaKind::Video.generate();
        let (_, pdf) = sandbox::facebook::MediaKind::File.generate();
        assert_eq!(sniff(&png), Some("image/png"));
        assert_eq!(sniff(&gif), Some("image/gif"));
        assert_eq!(sniff(&mp4), Some("video/mp4"));
        assert_eq!(sniff(&pdf), Some("application/pdf"));
        let jpeg = encode(
            DynamicImage::ImageRgb8(RgbImage::new(4, 4)),
            ImageFormat::Jpeg,
        );
        assert_eq!(sniff(&jpeg), Some("image/jpeg"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), Some("audio/wav"));
        assert_eq!(sniff(b"\0\0\0\x14ftypqt  \0\0"), Some("video/quicktime"));
        assert_eq!(sniff(b"\0\0\0\x14ftypM4A \0\0"), Some("audio/mp4"));
        assert_eq!(sniff(b"OggS\0\x02"), Some("audio/ogg"));
        assert_eq!(sniff(b"ID3\x04\0"), Some("audio/mpeg"));
        assert_eq!(sniff(b"<svg xmlns="), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"RIFF"), None);
    }

    #[test]
    fn a_header_claiming_a_huge_image_is_refused_before_decoding() {
        let bomb = png_header(100_000, 100_000);
        assert_eq!(sniff(&bomb), Some("image/png"));
        let err = decode_bounded(&bomb, ImageFormat::Png).unwrap_err();
        assert!(err.contains("100000×100000"), "{err}");
        // Within each side but over the pixel budget.
        let err = decode_bounded(&png_header(7_000, 7_000), ImageFormat::Png).unwrap_err();
        assert!(err.contains("megapixel"), "{err}");
        assert!(derive(&bomb, "image/png").is_err());
    }

    #[test]
    fn truncated_or_mislabelled_files_are_refused() {
        let (_, gif) = sandbox::facebook::MediaKind::Gif.generate();
        for cut in [gif.len() / 2, 13, 6] {
            assert!(
                derive(&gif[..cut], "image/gif").is_err(),
                "a GIF cut at {cut} bytes"
            );
        }
        let (_, png) = sandbox::facebook::MediaKind::Image.generate();
        assert!(derive(&png[..png.len() - 20], "image/png").is_err());
        assert!(derive(&png, "image/gif").is_err(), "PNG bytes read as GIF");
        assert!(derive(b"not an image at all", "image/jpeg").is_err());
        assert!(derive(&png, "application/pdf").is_err());
    }

    #[test]
    fn a_gifs_still_is_its_first_frame() {
        let (_, gif) = sandbox::facebook::MediaKind::Gif.generate();
        let frames: Vec<_> = image::codecs::gif::GifDecoder::new(Cursor::new(&gif))
            .unwrap()
            .into_frames()
            .collect_frames()
            .unwrap();
        assert_eq!(frames.len(), 2, "the sandbox's GIF has two frames");
        let first = frames[0].buffer();
        assert_ne!(
            first,
            frames[1].buffer(),
            "the frames differ, so the test tells them apart"
        );
        let derived = derive(&gif, "image/gif").unwrap();
        let still = derived.still.expect("a GIF gets a still");
        assert_eq!(still.mime, "image/png");
        assert_eq!(sniff(&still.bytes), Some("image/png"));
        let decoded = image::load_from_memory_with_format(&still.bytes, ImageFormat::Png)
            .unwrap()
            .to_rgba8();
        assert_eq!(&decoded, first);
    }

    /// A photo-like JPEG (gradients and grain, so every block has detail).
    fn photo_jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            let grain = (x.wrapping_mul(7_919) ^ y.wrapping_mul(104_729)) % 23;
            Rgb([(x % 256) as u8, (y % 256) as u8, (40 + grain) as u8])
        });
        encode(DynamicImage::ImageRgb8(img), ImageFormat::Jpeg)
    }

    /// The JPEG with its frame header (SOF0) saying `w`×`h` and, if `sof`, another coding
    /// process.
    fn with_frame(mut jpeg: Vec<u8>, sof: u8, w: u16, h: u16) -> Vec<u8> {
        let at = jpeg
            .windows(2)
            .position(|m| m == [0xFF, 0xC0])
            .expect("a baseline frame header");
        jpeg[at + 1] = sof;
        jpeg[at + 5..at + 7].copy_from_slice(&h.to_be_bytes());
        jpeg[at + 7..at + 9].copy_from_slice(&w.to_be_bytes());
        jpeg
    }

    #[test]
    fn a_jpeg_for_a_thumbnail_is_decoded_at_the_smallest_scale_that_fills_the_box() {
        let jpeg = photo_jpeg(1_600, 1_200);
        // 1/8 would give 200×150, short of 320; 1/4 gives 400×300.
        let img = decode_for(&jpeg, ImageFormat::Jpeg, THUMB_BOX).unwrap();
        assert_eq!(img.dimensions(), (400, 300));
        assert!(matches!(img, DynamicImage::ImageRgb8(_)));
        let thumb = image::load_from_memory(&fit_within(&img, THUMB_BOX).unwrap().bytes).unwrap();
        assert_eq!(thumb.dimensions(), (320, 240));
        // The same pixels as a full decode scaled down, give or take the filters.
        let full = decode_bounded(&jpeg, ImageFormat::Jpeg).unwrap().to_rgb8();
        let (a, b) = (img.to_rgb8(), full);
        for (x, y) in [(10, 10), (200, 150), (390, 290)] {
            let (p, q) = (a.get_pixel(x, y), b.get_pixel(x * 4 + 2, y * 4 + 2));
            for c in 0..3 {
                assert!(p[c].abs_diff(q[c]) < 40, "at {x},{y}: {p:?} vs {q:?}");
            }
        }
        // A tall one is scaled by its longer side; a small one, or a poster's larger box,
        // is decoded at the scale it needs.
        let tall = photo_jpeg(300, 2_800);
        assert_eq!(
            decode_for(&tall, ImageFormat::Jpeg, THUMB_BOX)
                .unwrap()
                .dimensions(),
            (38, 350)
        );
        let small = photo_jpeg(200, 100);
        assert_eq!(
            decode_for(&small, ImageFormat::Jpeg, THUMB_BOX)
                .unwrap()
                .dimensions(),
            (200, 100)
        );
        assert_eq!(
            decode_for(&jpeg, ImageFormat::Jpeg, POSTER_BOX)
                .unwrap()
                .dimensions(),
            (800, 600)
        );
        // Greyscale stays greyscale.
        let grey = encode(
            DynamicImage::ImageLuma8(GrayImage::from_fn(1_000, 800, |x, y| {
                image::Luma([((x + y) % 256) as u8])
            })),
            ImageFormat::Jpeg,
        );
        let img = decode_for(&grey, ImageFormat::Jpeg, THUMB_BOX).unwrap();
        assert!(matches!(img, DynamicImage::ImageLuma8(_)));
        assert_eq!(img.dimensions(), (500, 400));
    }

    #[test]
    fn a_scaled_jpeg_decode_still_refuses_bombs_and_truncated_files() {
        let jpeg = photo_jpeg(640, 480);
        let err = decode_for(
            &with_frame(jpeg.clone(), 0xC0, 60_000, 60_000),
            ImageFormat::Jpeg,
            THUMB_BOX,
        )
        .unwrap_err();
        assert!(err.contains("60000×60000"), "{err}");
        let err = decode_for(
            &with_frame(jpeg.clone(), 0xC0, 7_000, 7_000),
            ImageFormat::Jpeg,
            THUMB_BOX,
        )
        .unwrap_err();
        assert!(err.contains("megapixel"), "{err}");
        // Within the pixel limit, but a progressive JPEG this size keeps more coefficients
        // than one decode may allocate.
        let err = decode_for(
            &with_frame(jpeg.clone(), 0xC2, 6_000, 6_000),
            ImageFormat::Jpeg,
            THUMB_BOX,
        )
        .unwrap_err();
        assert!(err.contains("coefficients"), "{err}");
        for cut in [jpeg.len() / 2, jpeg.len() - 10, 200, 3] {
            assert!(
                derive(&jpeg[..cut], "image/jpeg").is_err(),
                "a JPEG cut at {cut} bytes"
            );
        }
        // A small file claiming thousands of scans (here in a comment, counted all the same).
        let mut many = jpeg[..2].to_vec();
        let comment = [0xFF, 0xDA].repeat(MAX_JPEG_SCANS + 1);
        many.extend([0xFF, 0xFE]);
        many.extend(u16::try_from(comment.len() + 2).unwrap().to_be_bytes());
        many.extend(comment);
        many.extend(&jpeg[2..]);
        assert!(derive(&jpeg, "image/jpeg").is_ok());
        let err = derive(&many, "image/jpeg").unwrap_err();
        assert!(err.contains("scan limit"), "{err}");
    }

    #[test]
    fn thumbnails_fit_the_box_whatever_the_format() {
        let wide = RgbImage::from_fn(1000, 400, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 7]));
        let tall = RgbaImage::from_fn(300, 900, |x, _| Rgba([1, 2, (x % 256) as u8, 200]));
        let cases = [
            (
                encode(DynamicImage::ImageRgb8(wide.clone()), ImageFormat::Jpeg),
                "image/jpeg",
            ),
            (
                encode(DynamicImage::ImageRgb8(wide), ImageFormat::Png),
                "image/png",
            ),
            (
                encode(DynamicImage::ImageRgba8(tall.clone()), ImageFormat::WebP),
                "image/webp",
            ),
            (
                encode(DynamicImage::ImageRgba8(tall), ImageFormat::Png),
                "image/png",
            ),
        ];
        for (bytes, mime) in cases {
            assert_eq!(sniff(&bytes), Some(mime));
            let thumb = derive(&bytes, mime).unwrap().thumbnail;
            let img = image::load_from_memory(&thumb.bytes).unwrap();
            let (w, h) = img.dimensions();
            assert!(w <= THUMB_BOX && h <= THUMB_BOX, "{mime}: {w}×{h}");
            assert!(
                w == THUMB_BOX || h == THUMB_BOX,
                "{mime}: {w}×{h} fills the box"
            );
            assert_eq!(sniff(&thumb.bytes), Some(thumb.mime));
        }
        // Small images are not enlarged.
        let (_, png) = sandbox::facebook::MediaKind::Image.generate();
        let thumb = derive(&png, "image/png").unwrap().thumbnail;
        let img = image::load_from_memory(&thumb.bytes).unwrap();
        assert!(img.width() <= 2 && img.height() <= 2);
    }
}
