//! Assertions for the hostile-input corpus: a malformed file must give a
//! clear error naming the file and the broken rule — never a panic, a hang
//! or unbounded memory.

use std::path::Path;
use std::time::{Duration, Instant};

use mlxport_tensor::TensorSource;

/// Memory a rejected file may cost while being parsed and read.
pub const MAX_PEAK_BYTES: usize = 64 << 20;
/// Time a rejected file may take.
pub const MAX_TIME: Duration = Duration::from_secs(10);

/// Open `path` with `open` and read every tensor (raw and as f32); the whole
/// attempt must fail with an error that names the file and contains `rule`
/// (case-insensitive), within [`MAX_TIME`] and [`MAX_PEAK_BYTES`].
/// Requires the calling test binary to install [`mlxport_testkit::alloc::Counting`].
pub fn assert_rejected<S, F>(path: &Path, open: F, rule: &str)
where
    S: TensorSource,
    F: FnOnce(&Path) -> mlxport_tensor::Result<S> + std::panic::UnwindSafe,
{
    let start = Instant::now();
    let (res, peak) = mlxport_testkit::alloc::peak_during(|| {
        std::panic::catch_unwind(|| -> mlxport_tensor::Result<()> {
            let src = open(path)?;
            for t in src.tensors().to_vec() {
                src.raw(&t.name)?;
                src.read_f32(&t.name)?;
            }
            Ok(())
        })
    });
    let elapsed = start.elapsed();
    let res = res.unwrap_or_else(|_| panic!("{}: parser panicked", path.display()));
    let err = match res {
        Ok(()) => panic!("{}: accepted, expected an error about '{rule}'", path.display()),
        Err(e) => e.to_string(),
    };
    let fname = path.file_name().unwrap().to_string_lossy();
    assert!(err.contains(&*fname), "{}: error does not name the file: {err}", path.display());
    assert!(err.to_lowercase().contains(&rule.to_lowercase()), "{}: error does not mention '{rule}': {err}", path.display());
    assert!(elapsed < MAX_TIME, "{}: took {elapsed:?}", path.display());
    assert!(peak < MAX_PEAK_BYTES, "{}: peak heap {peak} bytes", path.display());
}
