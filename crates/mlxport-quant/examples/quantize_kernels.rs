//! Time `mlxport_quant::quantize` on one raw matrix (the Rust side of
//! bench/quantize_kernels.py).
//!
//! usage: quantize_kernels INPUT DTYPE ROWS COLS MODE BITS GROUP RUNS OUT_PREFIX
//!
//! Reads INPUT (raw little-endian DTYPE data) once, quantizes it RUNS times,
//! prints `{"seconds": [...], "cpu_seconds": [...]}` (wall and process CPU
//! time per run) and writes the last result's w_q and scales
//! to OUT_PREFIX.wq / OUT_PREFIX.scales for the caller to compare.

use std::time::Instant;

use mlxport_quant::{quantize, Mode, Params};
use mlxport_tensor::DType;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 9 {
        return Err("usage: quantize_kernels INPUT DTYPE ROWS COLS MODE BITS GROUP RUNS OUT_PREFIX".into());
    }
    let bytes = std::fs::read(&a[0])?;
    let dtype = match a[1].as_str() {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        d => return Err(format!("dtype {d}: use F32, F16 or BF16").into()),
    };
    let shape = [a[2].parse::<usize>()?, a[3].parse::<usize>()?];
    let mode: Mode = a[4].parse()?;
    let p = Params::new(mode, Some(a[5].parse()?), Some(a[6].parse()?))?;
    let runs: usize = a[7].parse()?;
    let mut seconds = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let (t, c) = (Instant::now(), cpu_seconds());
        let q = quantize(&bytes, dtype, &shape, &p)?;
        seconds.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - c);
        last = Some(q);
    }
    let q = last.ok_or("RUNS must be at least 1")?;
    std::fs::write(format!("{}.wq", a[8]), q.wq_bytes())?;
    std::fs::write(format!("{}.scales", a[8]), &q.scales)?;
    println!("{{\"seconds\": {seconds:?}, \"cpu_seconds\": {cpu:?}, \"threads\": {}}}", rayon::current_num_threads());
    Ok(())
}

/// CPU time of the whole process (all threads).
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
