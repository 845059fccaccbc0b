//! The quantizing [`Stage`]: writes each target as [`Choice`] says —
//! `PATH.weight` (packed uint32), `PATH.scales` and (affine) `PATH.biases`
//! for a quantized layer, a GGUF block tensor repacked losslessly, or the
//! tensor itself — and measures each quantized tensor's error when asked.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mlxport_tensor::gguf::GgufFile;
use mlxport_tensor::safetensors::TensorSpec;
use mlxport_tensor::{DType, TensorSource};
use serde_json::{Map, Value};

use super::options::Spec;
use super::report::LayerError;
use super::select::{patch_config, Choice};
use crate::plan::{Job, PlannedTarget};
use crate::stage::{Output, Stage};
use crate::transform::{apply_all, Buf, Transform};
use crate::{Error, Result};

/// The kernels' parameters for a spec.
pub fn params(s: &Spec) -> Result<mlxport_quant::Params> {
    let mode: mlxport_quant::Mode = s.mode.parse().map_err(|e: mlxport_quant::QuantError| Error::Usage(e.to_string()))?;
    mlxport_quant::Params::new(mode, Some(s.bits), Some(s.group_size)).map_err(|e| Error::Usage(e.to_string()))
}

/// Quantizes targets per a precomputed choice.
pub struct QuantStage {
    pub(crate) name: String,
    pub(crate) choices: HashMap<String, (Choice, String)>,
    pub(crate) block: Map<String, Value>,
    /// The GGUF source, for lossless block repacking, and each kept
    /// target's row transforms.
    pub(crate) gguf: Option<GgufFile>,
    pub(crate) transforms: HashMap<String, Vec<Transform>>,
    /// Measure errors into this.
    pub(crate) errors: Option<Arc<Mutex<Vec<LayerError>>>>,
}

impl QuantStage {
    fn choice(&self, t: &PlannedTarget) -> &Choice {
        static FLOAT: Choice = Choice::Float { why: None };
        self.choices.get(&t.name).map(|(c, _)| c).unwrap_or(&FLOAT)
    }
}

fn path_of(name: &str) -> &str {
    name.strip_suffix(".weight").unwrap_or(name)
}

fn spec(name: String, dtype: DType, shape: Vec<u64>) -> TensorSpec {
    TensorSpec::new(name, dtype, shape)
}

impl Stage for QuantStage {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn outputs(&self, t: &PlannedTarget) -> Result<Vec<Output>> {
        let (bits, group, scale_dtype, biases) = match self.choice(t) {
            Choice::Float { .. } => {
                return Ok(vec![Output { spec: spec(t.name.clone(), t.dtype, t.shape.clone()), parameters: t.shape.iter().product() }]);
            }
            Choice::Quantize { spec: s, .. } => (s.bits as u64, s.group_size as u64, if s.mode == "affine" { t.dtype } else { DType::U8 }, s.mode == "affine"),
            Choice::KeepGguf { bits } => (*bits as u64, 32, DType::F16, true),
        };
        let (lead, last) = t.shape.split_at(t.shape.len().saturating_sub(1));
        let last = last.first().copied().unwrap_or(0);
        if last % group != 0 || (last * bits) % 32 != 0 {
            return Err(Error::Convert(format!("'{}': last dimension {last} cannot be quantized in groups of {group} at {bits} bits", t.name)));
        }
        let rows: u64 = lead.iter().product();
        let words = last * bits / 32;
        let with = |n: u64| lead.iter().copied().chain([n]).collect::<Vec<u64>>();
        let p = path_of(&t.name);
        let mut out = vec![Output { spec: spec(format!("{p}.weight"), DType::U32, with(words)), parameters: rows * words * 32 / bits }];
        out.push(Output { spec: spec(format!("{p}.scales"), scale_dtype, with(last / group)), parameters: 0 });
        if biases {
            out.push(Output { spec: spec(format!("{p}.biases"), scale_dtype, with(last / group)), parameters: 0 });
        }
        Ok(out)
    }

    fn encode<'a>(&self, t: &PlannedTarget, tensor: Buf<'a>) -> Result<Vec<Cow<'a, [u8]>>> {
        let (s, by) = match self.choices.get(&t.name) {
            Some((Choice::Quantize { spec, .. }, by)) => (*spec, by),
            Some((Choice::KeepGguf { .. }, _)) => return Err(Error::Convert(format!("'{}': GGUF blocks were not read directly", t.name))),
            _ => return Ok(vec![tensor.data]),
        };
        let p = params(&s)?;
        let shape: Vec<usize> = tensor.shape.iter().map(|&d| d as usize).collect();
        let Some(sink) = &self.errors else {
            // No report: the codes are packed straight into the bytes written.
            let q = mlxport_quant::quantize_to_bytes(&tensor.data, tensor.dtype, &shape, &p)
                .map_err(|e| Error::Convert(format!("'{}': cannot quantize: {e}", t.name)))?;
            let mut out = vec![Cow::Owned(q.wq), Cow::Owned(q.scales)];
            if let Some(b) = q.biases {
                out.push(Cow::Owned(b));
            }
            return Ok(out);
        };
        let q = mlxport_quant::quantize(&tensor.data, tensor.dtype, &shape, &p).map_err(|e| Error::Convert(format!("'{}': cannot quantize: {e}", t.name)))?;
        {
            let st = mlxport_quant::error_stats(&tensor.data, tensor.dtype, &q, &p).map_err(|e| Error::Convert(format!("'{}': {e}", t.name)))?;
            let e = LayerError {
                rank: 0,
                name: t.name.clone(),
                shape: t.shape.clone(),
                mode: s.mode.into(),
                bits: s.bits,
                group_size: s.group_size,
                by: by.clone(),
                elements: st.elements,
                rmse: st.rmse,
                max_abs: st.max_abs,
                rel_frobenius: st.rel_frobenius,
                sqnr_db: st.sqnr_db,
            };
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(e);
        }
        let mut out = vec![Cow::Owned(q.wq_bytes().to_vec()), Cow::Owned(q.scales)];
        if let Some(b) = q.biases {
            out.push(Cow::Owned(b));
        }
        Ok(out)
    }

    fn direct_from_source(&self, job: &Job, t: &PlannedTarget, _src: &dyn TensorSource) -> Option<Result<Vec<Vec<u8>>>> {
        let Choice::KeepGguf { bits } = self.choice(t) else { return None };
        let gguf = self.gguf.as_ref()?;
        Some(repack(gguf, &job.inputs[0], *bits, t, self.transforms.get(&t.name).map(Vec::as_slice).unwrap_or(&[])))
    }

    fn patch_config(&self, config: &mut Value) {
        patch_config(config, &self.block);
    }
}

/// A Q4_0/Q4_1/Q8_0 tensor as MLX affine (group size 32, float16 scales
/// and biases, as MLX's GGUF loader gives it), then the rule's row moves.
fn repack(gguf: &GgufFile, name: &str, bits: u8, t: &PlannedTarget, transforms: &[Transform]) -> Result<Vec<Vec<u8>>> {
    let a = gguf.affine_blocks(name)?;
    let shape: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
    let (q, p) = mlxport_quant::from_gguf_blocks(&a, &shape).map_err(|e| Error::Convert(format!("'{name}': {e}")))?;
    if p.bits != bits {
        return Err(Error::Convert(format!("'{name}': {} blocks are not {bits}-bit", a.ty)));
    }
    let dims = |s: Vec<usize>| s.into_iter().map(|d| d as u64).collect::<Vec<u64>>();
    let (wq_shape, s_shape) = (dims(q.wq_shape()), dims(q.scales_shape()));
    let mut bufs = vec![
        Buf { dtype: DType::U32, shape: wq_shape, data: Cow::Owned(q.wq_bytes().to_vec()) },
        Buf { dtype: q.scale_dtype, shape: s_shape.clone(), data: Cow::Owned(q.scales) },
    ];
    if let Some(b) = q.biases {
        bufs.push(Buf { dtype: q.scale_dtype, shape: s_shape, data: Cow::Owned(b) });
    }
    let mut out = Vec::with_capacity(3);
    for b in bufs {
        let moved = apply_all(transforms, vec![b]).map_err(|e| Error::Convert(format!("'{name}': {e}")))?;
        out.extend(moved.into_iter().map(|b| b.data.into_owned()));
    }
    Ok(out)
}
