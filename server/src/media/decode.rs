//! What the bytes are, told by their magic numbers, and the derivatives made from images
//! (thumbnails, a GIF's first frame as a still), decoded within fixed bounds so a
//! decompression bomb or a truncated file is refused instead of exhausting memory.
//!
//! Everything here is synchronous CPU work: callers run it in `spawn_blocking`.

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
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
    if w == 0 || h == 0 {
        return Err(format!("the image claims {w}×{h} pixels"));
    }
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!(
            "the image claims {w}×{h} pixels, over the {MAX_SIDE}×{MAX_SIDE} or {} megapixel limit",
            MAX_PIXELS / 1_000_000
        ));
    }
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
        img.resize(side, side, image::imageops::FilterType::Triangle)
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
    let img = decode_bounded(bytes, format)?;
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
    use image::{AnimationDecoder, GenericImageView, Rgb, RgbImage, Rgba, RgbaImage};

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
