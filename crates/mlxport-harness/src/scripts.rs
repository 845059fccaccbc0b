//! The Python scripts and package templates, embedded in the binary and
//! written out to a private directory when a step runs.

use std::path::Path;

use crate::error::{Error, Result};

/// The harness's Python steps (`python/harness/`).
pub const SCRIPTS: &[(&str, &str)] = &[
    ("mlxport_common.py", include_str!("../../../python/harness/mlxport_common.py")),
    ("oracle.py", include_str!("../../../python/harness/oracle.py")),
    ("oracle_seq2seq.py", include_str!("../../../python/harness/oracle_seq2seq.py")),
    ("capture.py", include_str!("../../../python/harness/capture.py")),
    ("blas_check.py", include_str!("../../../python/harness/blas_check.py")),
    ("probe.py", include_str!("../../../python/harness/probe.py")),
    ("bench_generate.py", include_str!("../../../python/harness/bench_generate.py")),
    ("bench_encoder.py", include_str!("../../../python/harness/bench_encoder.py")),
    ("bench_modes.py", include_str!("../../../python/harness/bench_modes.py")),
    ("profile_serving.py", include_str!("../../../python/harness/profile_serving.py")),
    ("quality_lm.py", include_str!("../../../python/harness/quality_lm.py")),
    ("quality_encoder.py", include_str!("../../../python/harness/quality_encoder.py")),
    ("matrix_build.py", include_str!("../../../python/harness/matrix_build.py")),
    ("oracle_vision.py", include_str!("../../../python/harness/oracle_vision.py")),
    ("quality_vision.py", include_str!("../../../python/harness/quality_vision.py")),
    ("bench_vision.py", include_str!("../../../python/harness/bench_vision.py")),
    ("capture_vision.py", include_str!("../../../python/harness/capture_vision.py")),
    ("oracle_vlm.py", include_str!("../../../python/harness/oracle_vlm.py")),
    ("capture_vlm.py", include_str!("../../../python/harness/capture_vlm.py")),
    // The packages' image reader, which the oracle reads images with too.
    ("image.py", include_str!("../../../python/templates/vision/image.py")),
];

/// Package templates (`python/templates/`): family files, then the files
/// every package gets. Paths are relative to the generated package.
pub const DECODER_TEMPLATES: &[(&str, &str)] = &[
    ("__init__.py", include_str!("../../../python/templates/decoder/__init__.py")),
    ("config.py", include_str!("../../../python/templates/decoder/config.py")),
    ("rope.py", include_str!("../../../python/templates/decoder/rope.py")),
    ("options.py", include_str!("../../../python/templates/decoder/options.py")),
    ("cache.py", include_str!("../../../python/templates/decoder/cache.py")),
    ("model.py", include_str!("../../../python/templates/decoder/model.py")),
    ("load.py", include_str!("../../../python/templates/decoder/load.py")),
    ("convert.py", include_str!("../../../python/templates/decoder/convert.py")),
    ("generate.py", include_str!("../../../python/templates/decoder/generate.py")),
    ("capture.py", include_str!("../../../python/templates/decoder/capture.py")),
    ("tests/test_serving.py", include_str!("../../../python/templates/decoder/test_serving.py")),
];

/// Added to the decoder files for a mixture-of-experts decoder.
pub const MOE_TEMPLATES: &[(&str, &str)] = &[("moe.py", include_str!("../../../python/templates/decoder/moe.py"))];

pub const ENCODER_TEMPLATES: &[(&str, &str)] = &[
    ("__init__.py", include_str!("../../../python/templates/encoder/__init__.py")),
    ("config.py", include_str!("../../../python/templates/encoder/config.py")),
    ("model.py", include_str!("../../../python/templates/encoder/model.py")),
    ("load.py", include_str!("../../../python/templates/encoder/load.py")),
    ("convert.py", include_str!("../../../python/templates/encoder/convert.py")),
    ("capture.py", include_str!("../../../python/templates/encoder/capture.py")),
    ("serving.py", include_str!("../../../python/templates/encoder/serving.py")),
];

pub const SEQ2SEQ_TEMPLATES: &[(&str, &str)] = &[
    ("__init__.py", include_str!("../../../python/templates/seq2seq/__init__.py")),
    ("config.py", include_str!("../../../python/templates/seq2seq/config.py")),
    ("cache.py", include_str!("../../../python/templates/seq2seq/cache.py")),
    ("model.py", include_str!("../../../python/templates/seq2seq/model.py")),
    ("load.py", include_str!("../../../python/templates/seq2seq/load.py")),
    ("convert.py", include_str!("../../../python/templates/seq2seq/convert.py")),
    ("generate.py", include_str!("../../../python/templates/seq2seq/generate.py")),
    ("capture.py", include_str!("../../../python/templates/seq2seq/capture.py")),
];

/// Image models: one file per architecture over shared layers, and the
/// image processor.
pub const VISION_TEMPLATES: &[(&str, &str)] = &[
    ("__init__.py", include_str!("../../../python/templates/vision/__init__.py")),
    ("config.py", include_str!("../../../python/templates/vision/config.py")),
    ("image.py", include_str!("../../../python/templates/vision/image.py")),
    ("layers.py", include_str!("../../../python/templates/vision/layers.py")),
    ("vit.py", include_str!("../../../python/templates/vision/vit.py")),
    ("dinov2.py", include_str!("../../../python/templates/vision/dinov2.py")),
    ("clip.py", include_str!("../../../python/templates/vision/clip.py")),
    ("convnext.py", include_str!("../../../python/templates/vision/convnext.py")),
    ("resnet.py", include_str!("../../../python/templates/vision/resnet.py")),
    ("model.py", include_str!("../../../python/templates/vision/model.py")),
    ("load.py", include_str!("../../../python/templates/vision/load.py")),
    ("capture.py", include_str!("../../../python/templates/vision/capture.py")),
];

/// Vision-language models: the template's own files; the package also
/// holds the decoder and vision templates as subpackages (see `vlm.rs`).
pub const VLM_TEMPLATES: &[(&str, &str)] = &[
    ("__init__.py", include_str!("../../../python/templates/vlm/__init__.py")),
    ("config.py", include_str!("../../../python/templates/vlm/config.py")),
    ("processor.py", include_str!("../../../python/templates/vlm/processor.py")),
    ("llava.py", include_str!("../../../python/templates/vlm/llava.py")),
    ("load.py", include_str!("../../../python/templates/vlm/load.py")),
    ("generate.py", include_str!("../../../python/templates/vlm/generate.py")),
    ("capture.py", include_str!("../../../python/templates/vlm/capture.py")),
];

pub const COMMON_TEMPLATES: &[(&str, &str)] = &[
    ("README.md", include_str!("../../../python/templates/common/README.md")),
    ("quant.py", include_str!("../../../python/templates/common/quant.py")),
    ("tests/__init__.py", include_str!("../../../python/templates/common/tests/__init__.py")),
    ("tests/test_parity.py", include_str!("../../../python/templates/common/tests/test_parity.py")),
];

/// Every Python file the binary carries (the harness's steps and every
/// template), by set: what a port's step hash covers.
pub const ALL: &[&[(&str, &str)]] =
    &[SCRIPTS, DECODER_TEMPLATES, MOE_TEMPLATES, ENCODER_TEMPLATES, SEQ2SEQ_TEMPLATES, VISION_TEMPLATES, VLM_TEMPLATES, COMMON_TEMPLATES];

/// Write the scripts into `dir` (created if needed).
pub fn materialize(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, format!("cannot create {}", dir.display()), e))?;
    for (name, text) in SCRIPTS {
        std::fs::write(dir.join(name), text).map_err(|e| Error::io(&dir.join(name), format!("cannot write {}", dir.join(name).display()), e))?;
    }
    Ok(())
}
