//! The output stage: how a converted target tensor is encoded in the
//! output checkpoint.
//!
//! `convert` turns source tensors into target tensors through the map
//! (exact layout moves, then the dtype policy). A [`Stage`] then decides
//! what is written for each target: by default the tensor itself
//! ([`Plain`]). MLX quantization plugs in here: a quantizing stage turns
//! `x.weight` into `x.weight` (packed uint32), `x.scales` and `x.biases`,
//! counts parameters the way mlx-lm does, and adds the `quantization`
//! block to `config.json`. A stage may also read the source tensors
//! directly ([`Stage::direct_from_source`]) to keep GGUF Q4_0/Q4_1/Q8_0 blocks as
//! MLX affine losslessly, without dequantizing.

use std::borrow::Cow;

use mlxport_tensor::safetensors::TensorSpec;
use mlxport_tensor::TensorSource;
use serde_json::Value;

use crate::plan::{Job, PlannedTarget};
use crate::transform::Buf;
use crate::Result;

/// One tensor a stage writes for a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub spec: TensorSpec,
    /// What it counts for in the index's `total_parameters` (mlx-lm counts
    /// a quantized weight as `packed elements * 32 / bits`).
    pub parameters: u64,
}

/// Encodes converted targets into written tensors.
pub trait Stage: Sync {
    /// A name for the manifest (`"plain"`, `"affine q4 g64"`).
    fn name(&self) -> String;

    /// The tensors written for `target`, in any order (files are sorted by
    /// name). Called once per target before anything is written.
    fn outputs(&self, target: &PlannedTarget) -> Result<Vec<Output>>;

    /// The bytes of each of [`Stage::outputs`], in the same order, from the
    /// converted tensor.
    fn encode<'a>(&self, target: &PlannedTarget, tensor: Buf<'a>) -> Result<Vec<Cow<'a, [u8]>>>;

    /// Produce the outputs straight from the source tensors instead (a
    /// lossless repack of quantized blocks). `None`: use [`Stage::encode`].
    fn direct_from_source(&self, _job: &Job, _target: &PlannedTarget, _src: &dyn TensorSource) -> Option<Result<Vec<Vec<u8>>>> {
        None
    }

    /// Changes to `config.json` (a `quantization` block).
    fn patch_config(&self, _config: &mut Value) {}
}

/// Targets written as they are.
pub struct Plain;

impl Stage for Plain {
    fn name(&self) -> String {
        "plain".into()
    }
    fn outputs(&self, t: &PlannedTarget) -> Result<Vec<Output>> {
        Ok(vec![Output { spec: TensorSpec::new(t.name.clone(), t.dtype, t.shape.clone()), parameters: t.shape.iter().product() }])
    }
    fn encode<'a>(&self, _t: &PlannedTarget, tensor: Buf<'a>) -> Result<Vec<Cow<'a, [u8]>>> {
        Ok(vec![tensor.data])
    }
}
