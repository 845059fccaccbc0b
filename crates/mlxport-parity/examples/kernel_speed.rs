use mlxport_parity::metrics::*;
use mlxport_tensor::stream::SliceChunks;
use mlxport_tensor::DType;
use std::borrow::Cow;
fn cpu() -> f64 {
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    r.ru_utime.tv_sec as f64 + r.ru_utime.tv_usec as f64 * 1e-6
}
fn main() {
    let n: usize = 64 << 20;
    let a: Vec<u8> = (0..n).flat_map(|i| (((i * 2654435761usize) % 1000) as f32 * 1e-3).to_le_bytes()).collect();
    let b: Vec<u8> = (0..n).flat_map(|i| (((i * 2654435761usize) % 1000) as f32 * 1e-3 + 1e-7).to_le_bytes()).collect();
    let threads: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    for ulp in [None, Some(DType::F32)] {
        let o = PassOptions::new(1e-5, 1e-5, 0.5, false, ulp);
        for _ in 0..3 {
            let t = std::time::Instant::now(); let c0 = cpu();
            let acc = pool.install(|| {
                let mut ra = SliceChunks::new(Cow::Borrowed(&a[..]));
                let mut rb = SliceChunks::new(Cow::Borrowed(&b[..]));
                float_pass(&mut ra, DType::F32, &mut rb, DType::F32, n as u64, &o, &mut |_| {}).unwrap()
            });
            let dt = t.elapsed().as_secs_f64(); let dc = cpu() - c0;
            let t2 = std::time::Instant::now(); let c2 = cpu();
            let (s, _) = pool.install(|| { let mut rb = SliceChunks::new(Cow::Borrowed(&b[..])); square_sum_pass(&mut rb, DType::F32, n as u64).unwrap() });
            let dt2 = t2.elapsed().as_secs_f64(); let dc2 = cpu() - c2;
            println!("ulp={:?} main wall {:.2} cpu {:.2} ns/pair  prepass wall {:.2} cpu {:.2} ns/elem  [{} {}]", ulp.is_some(), dt * 1e9 / n as f64, dc * 1e9 / n as f64, dt2 * 1e9 / n as f64, dc2 * 1e9 / n as f64, acc.violations, s.hi);
        }
    }
}
