//! Media benchmark (`cargo bench -p server --bench media`): the derivatives the server makes
//! of an inbound image — a 320 px thumbnail of a 12-megapixel JPEG, and the first-frame still
//! (plus thumbnail) of a 500-frame GIF — beside `vipsthumbnail` (Debian `libvips-tools`) on
//! the same files in the same run, rounds interleaved. This machine is shared and noisy, so
//! the figures that matter are the ratios.
//!
//! Each side runs once per round in a process of its own, so that its peak memory (the
//! child's RSS high-water mark, `getrusage(RUSAGE_CHILDREN)` in an intermediate process that
//! starts it and waits) is its own: ours is this binary re-run with `--derive`, doing what the
//! media fetcher does (read the file, `server::media::decode::derive`, write the outputs);
//! vips is `vipsthumbnail FILE -s 320 -o OUT.jpg`. Both are timed from start to exit by that
//! intermediate process, so both pay for starting a process; ours also reports the time
//! `derive` alone took, for reference.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const ROUNDS: usize = 7;
const JPEG_SIZE: (u32, u32) = (4_000, 3_000);
const GIF_SIZE: (u32, u32) = (480, 270);
const GIF_FRAMES: u32 = 500;
const TIME_GOAL: f64 = 1.0;
const MEMORY_GOAL: f64 = 2.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--derive") => derive_once(&args[1..]),
        Some("--measure") => measure_child(&args[1..]),
        // `cargo bench` passes `--bench`.
        _ => bench(),
    }
}

/// One of ours, as the media fetcher does it: the file read whole, derived, the
/// derivatives written. Prints how long `derive` took.
fn derive_once(args: &[String]) {
    let [file, mime, out] = args else {
        panic!("--derive FILE MIME OUT_DIR")
    };
    let bytes = std::fs::read(file).expect("reading the input");
    let start = Instant::now();
    let derived = server::media::decode::derive(&bytes, mime).expect("deriving");
    let took = start.elapsed();
    let out = Path::new(out);
    let thumb = &derived.thumbnail;
    std::fs::write(
        out.join(format!("thumb.{}", thumb.extension())),
        &thumb.bytes,
    )
    .unwrap();
    if let Some(still) = &derived.still {
        std::fs::write(
            out.join(format!("still.{}", still.extension())),
            &still.bytes,
        )
        .unwrap();
    }
    println!("derive_us={}", took.as_micros());
}

/// Runs a command to its end; prints its wall time, its peak RSS and what it printed.
fn measure_child(args: &[String]) {
    let (program, rest) = args.split_first().expect("--measure PROGRAM ARGS…");
    let start = Instant::now();
    let out = Command::new(program)
        .args(rest)
        .output()
        .unwrap_or_else(|e| panic!("starting {program}: {e}"));
    let wall = start.elapsed();
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The high-water mark of the one child this process waited for, in KiB on Linux.
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    println!("wall_us={}", wall.as_micros());
    println!("maxrss_kib={}", usage.max_rss());
}

/// One run of one side.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall_ms: f64,
    rss_mib: f64,
    /// Ours only: `derive` alone, in the process.
    derive_ms: Option<f64>,
}

/// Runs `program args` under `--measure` in a process of its own.
fn measure(program: &Path, args: &[&str]) -> Run {
    let me = std::env::current_exe().unwrap();
    let out = Command::new(me)
        .arg("--measure")
        .arg(program)
        .args(args)
        .output()
        .expect("re-running the bench");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "measuring {} failed: {text}{}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(|v| v.trim().parse::<f64>().expect("a number"))
    };
    Run {
        wall_ms: field("wall_us").expect("wall_us") / 1_000.0,
        rss_mib: field("maxrss_kib").expect("maxrss_kib") / 1_024.0,
        derive_ms: field("derive_us").map(|us| us / 1_000.0),
    }
}

fn vipsthumbnail() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("vipsthumbnail"))
            .find(|p| p.is_file())
    });
    let Some(path) = found else {
        eprintln!(
            "vipsthumbnail is not installed, and it is this bench's baseline.\n\
             Install it with: apt-get install -y --no-install-recommends libvips-tools"
        );
        std::process::exit(2);
    };
    path
}

/// A deterministic xorshift, so the inputs are the same every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A photo-like JPEG: smooth gradients, a few soft discs and grain, so the encoder (and
/// so every decoder) does real work in every block.
fn make_jpeg(path: &Path) {
    let (w, h) = JPEG_SIZE;
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let discs = [
        (900.0, 800.0, 500.0),
        (2_900.0, 1_400.0, 700.0),
        (1_800.0, 2_300.0, 400.0),
    ];
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (f64::from(x), f64::from(y));
        let mut px = [
            fx / f64::from(w) * 200.0 + 30.0,
            fy / f64::from(h) * 180.0 + 40.0,
            ((fx * 0.002).sin() * (fy * 0.003).cos() + 1.0) * 100.0 + 20.0,
        ];
        for (i, (cx, cy, r)) in discs.iter().enumerate() {
            let d = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
            if d < *r {
                let k = 1.0 - d / r;
                px[i] += 60.0 * k;
                px[(i + 1) % 3] -= 40.0 * k;
            }
        }
        let grain = noise.next();
        image::Rgb(std::array::from_fn(|c| {
            let n = f64::from(((grain >> (c * 8)) & 0x1F) as u8) - 16.0;
            (px[c] + n).clamp(0.0, 255.0) as u8
        }))
    });
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(file, 90))
        .unwrap();
}

/// An animated GIF of `GIF_FRAMES` frames, each a moving pattern in a 216-colour cube (so
/// the encoder keeps the colours exactly) with some dither.
fn make_gif(path: &Path) {
    use image::codecs::gif::{GifEncoder, Repeat};
    let (w, h) = GIF_SIZE;
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = GifEncoder::new_with_speed(file, 30);
    enc.set_repeat(Repeat::Infinite).unwrap();
    let level = |v: u32| (v % 6 * 51) as u8;
    for t in 0..GIF_FRAMES {
        let frame = image::RgbaImage::from_fn(w, h, |x, y| {
            let dither = u32::from((x * 7 + y * 13 + t) % 5 == 0);
            image::Rgba([
                level((x + 3 * t) * 6 / w + dither),
                level(y * 6 / h + (x / 40 + t / 10) % 2),
                level((x + y + 2 * t) / 45),
                255,
            ])
        });
        enc.encode_frame(image::Frame::from_parts(
            frame,
            0,
            0,
            image::Delay::from_numer_denom_ms(40, 1),
        ))
        .unwrap();
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn worst(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::MIN, f64::max)
}

fn mib(path: &Path) -> f64 {
    std::fs::metadata(path).unwrap().len() as f64 / (1024.0 * 1024.0)
}

struct Case {
    name: &'static str,
    file: PathBuf,
    mime: &'static str,
    ours_does: &'static str,
    vips_does: &'static str,
}

struct Figures {
    ours: Vec<Run>,
    vips: Vec<Run>,
}

fn bench() {
    let vips = vipsthumbnail();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let jpeg = dir.path().join("photo.jpg");
    make_jpeg(&jpeg);
    let gif = dir.path().join("animation.gif");
    make_gif(&gif);
    let tiny = dir.path().join("tiny.jpg");
    image::RgbImage::from_pixel(8, 8, image::Rgb([90, 120, 150]))
        .save(&tiny)
        .unwrap();
    println!(
        "Inputs made in {:.1} s: a {}×{} photo-like JPEG ({:.1} MiB), a {}-frame {}×{} GIF \
         ({:.1} MiB).",
        started.elapsed().as_secs_f64(),
        JPEG_SIZE.0,
        JPEG_SIZE.1,
        mib(&jpeg),
        GIF_FRAMES,
        GIF_SIZE.0,
        GIF_SIZE.1,
        mib(&gif)
    );
    let cases = [
        Case {
            name: "12 MP JPEG",
            file: jpeg,
            mime: "image/jpeg",
            ours_does: "derive(): decode, thumbnail within 320×320, JPEG",
            vips_does: "vipsthumbnail -s 320: decode, thumbnail within 320×320, JPEG",
        },
        Case {
            name: "500-frame GIF",
            file: gif,
            mime: "image/gif",
            ours_does: "derive(): decode frame 1, full-size PNG still AND thumbnail within 320×320 (PNG)",
            vips_does: "vipsthumbnail -s 320: decode page 0, thumbnail within 320×320, JPEG (no still)",
        },
        Case {
            name: "8×8 JPEG (start-up)",
            file: tiny,
            mime: "image/jpeg",
            ours_does: "as for the photo: the cost of starting the process and writing",
            vips_does: "as for the photo: the cost of starting vipsthumbnail (libvips, glib)",
        },
    ];
    let me = std::env::current_exe().unwrap();
    let mut results = Vec::new();
    for case in &cases {
        let out = tempfile::tempdir_in(dir.path()).unwrap();
        let file = case.file.to_str().unwrap();
        let out_dir = out.path().to_str().unwrap();
        let vips_out = out.path().join("vips.jpg");
        let ours = || measure(&me, &["--derive", file, case.mime, out_dir]);
        let theirs = || {
            measure(
                &vips,
                &[file, "-s", "320", "-o", vips_out.to_str().unwrap()],
            )
        };
        // One of each unmeasured, so both start with the file and the programs in cache.
        ours();
        theirs();
        let mut figures = Figures {
            ours: Vec::new(),
            vips: Vec::new(),
        };
        // Interleaved, and which goes first alternates, so both meet the same noise.
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                figures.ours.push(ours());
                figures.vips.push(theirs());
            } else {
                figures.vips.push(theirs());
                figures.ours.push(ours());
            }
        }
        check_outputs(case, out.path(), &vips_out);
        results.push(figures);
    }
    report(&cases, &results);
}

/// Both sides made what they should: a thumbnail within the box (and ours a still).
fn check_outputs(case: &Case, ours: &Path, vips: &Path) {
    let thumb = std::fs::read_dir(ours)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_stem().is_some_and(|s| s == "thumb"))
        .expect("our thumbnail");
    for p in [&thumb, &vips.to_path_buf()] {
        let (w, h) = image::image_dimensions(p).unwrap();
        assert!(w <= 320 && h <= 320, "{}: {w}×{h}", p.display());
    }
    if case.mime == "image/gif" {
        let (w, h) = image::image_dimensions(ours.join("still.png")).unwrap();
        assert_eq!((w, h), GIF_SIZE, "the still is the first frame, full size");
    }
}

fn report(cases: &[Case], results: &[Figures]) {
    println!(
        "\n{ROUNDS} rounds, interleaved; median (worst). Each side in a process of its own, \
         timed from start to exit;\npeak memory = that process's RSS high-water mark. \
         \"derive\" = ours inside the process, for reference."
    );
    println!(
        "\n{:<21} {:>22} {:>22} {:>14} {:>18} {:>18} {:>9}",
        "input", "time ours", "time vips", "ours/vips", "peak ours", "peak vips", "ours/vips"
    );
    let mut verdicts = Vec::new();
    // The 8×8 JPEG's run is each side's cost of starting and finishing a process.
    let startup = |pick: fn(&Figures) -> &Vec<Run>| {
        let tiny = results.last().expect("the start-up case");
        median(&pick(tiny).iter().map(|r| r.wall_ms).collect::<Vec<_>>())
    };
    let (ours_start, vips_start) = (startup(|f| &f.ours), startup(|f| &f.vips));
    for (case, f) in cases.iter().zip(results) {
        let col = |runs: &[Run], get: fn(&Run) -> f64| -> (f64, f64) {
            let xs: Vec<f64> = runs.iter().map(get).collect();
            (median(&xs), worst(&xs))
        };
        let (ot, otw) = col(&f.ours, |r| r.wall_ms);
        let (vt, vtw) = col(&f.vips, |r| r.wall_ms);
        let (om, omw) = col(&f.ours, |r| r.rss_mib);
        let (vm, vmw) = col(&f.vips, |r| r.rss_mib);
        let (dt, dtw) = col(&f.ours, |r| r.derive_ms.unwrap_or(f64::NAN));
        let time_ratio = ot / vt;
        let mem_ratio = om / vm;
        println!(
            "{:<21} {:>22} {:>22} {:>13.2}× {:>18} {:>18} {:>8.2}×",
            case.name,
            format!("{ot:.1} ms ({otw:.1})"),
            format!("{vt:.1} ms ({vtw:.1})"),
            time_ratio,
            format!("{om:.1} MiB ({omw:.1})"),
            format!("{vm:.1} MiB ({vmw:.1})"),
            mem_ratio,
        );
        println!(
            "{:<21}   derive alone: {dt:.1} ms ({dtw:.1}) = {:.2}× vips's whole run",
            "",
            dt / vt
        );
        if case.file.file_stem().is_some_and(|s| s != "tiny") {
            let (ow, vw) = (ot - ours_start, vt - vips_start);
            if vw > 0.0 {
                println!(
                    "{:<21}   beyond each side's start-up (its 8×8 run): {ow:.1} ms / {vw:.1} ms = {:.2}×",
                    "",
                    ow / vw
                );
            } else {
                println!(
                    "{:<21}   beyond each side's start-up (its 8×8 run): {ow:.1} ms / within vips's start-up noise",
                    ""
                );
            }
        }
        println!("{:<21}   ours: {}", "", case.ours_does);
        println!("{:<21}   vips: {}", "", case.vips_does);
        if case.file.file_stem().is_some_and(|s| s != "tiny") {
            verdicts.push((case.name, time_ratio, mem_ratio));
        }
    }
    let met = |ok: bool| if ok { "MET" } else { "NOT MET" };
    println!(
        "\nThe goals compare whole runs, as vipsthumbnail is used; {vips_start:.0} ms of each of \
         its runs is starting (libvips loads its modules), against {ours_start:.0} ms of ours."
    );
    for (name, t, m) in &verdicts {
        println!(
            "goal: {name}: time ≤ {TIME_GOAL:.1}× vipsthumbnail — {t:.2}× {}; peak memory ≤ \
             {MEMORY_GOAL:.0}× — {m:.2}× {}",
            met(*t <= TIME_GOAL),
            met(*m <= MEMORY_GOAL)
        );
    }
    let time_ok = verdicts.iter().all(|(_, t, _)| *t <= TIME_GOAL);
    let mem_ok = verdicts.iter().all(|(_, _, m)| *m <= MEMORY_GOAL);
    println!(
        "verdict: media time ≤ {TIME_GOAL:.1}× vipsthumbnail: {}",
        met(time_ok)
    );
    println!(
        "verdict: media peak memory ≤ {MEMORY_GOAL:.0}× vipsthumbnail: {}",
        met(mem_ok)
    );
}
