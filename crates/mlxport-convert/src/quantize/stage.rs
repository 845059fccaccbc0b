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
        let q = mlxport_quant::quantize(&tensor.data, tensor.dtype, &shape, &p).map_err(|e| Error::Convert(format!("'{}': cannot quantize: {e}", t.name)))?;
        if let Some(sink) = &self.errors {
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

/// A Q4_0/Q4_1/Q8_0 tensor as MLX affine (group size 32): codes packed
/// little-end first into uint32 words, float16 scales, and float16 biases
/// (the block minimum, or `-zero_point * scale` rounded to float16, as
/// MLX's GGUF loader computes them); then the rule's row transforms.
fn repack(gguf: &GgufFile, name: &str, bits: u8, t: &PlannedTarget, transforms: &[Transform]) -> Result<Vec<Vec<u8>>> {
    let a = gguf.affine_blocks(name)?;
    if a.bits != bits as u32 || a.block_size != 32 {
        return Err(Error::Convert(format!("'{name}': {} blocks are not {bits}-bit groups of 32", a.ty)));
    }
    let per_word = 32 / bits as usize;
    let mut wq = Vec::with_capacity(a.codes.len() * bits as usize / 8);
    for w in a.codes.chunks(per_word) {
        let mut word = 0u32;
        for (j, &c) in w.iter().enumerate() {
            word |= (c as u32) << (j * bits as usize);
        }
        wq.extend_from_slice(&word.to_le_bytes());
    }
    let mut scales = Vec::with_capacity(a.scales.len() * 2);
    let mut biases = Vec::with_capacity(a.scales.len() * 2);
    for (k, d) in a.scales.iter().enumerate() {
        scales.extend_from_slice(&d.to_bits().to_le_bytes());
        let b = match &a.mins {
            Some(m) => m[k],
            None => half::f16::from_f32(-(a.zero_point as f32) * d.to_f32()),
        };
        biases.extend_from_slice(&b.to_bits().to_le_bytes());
    }
    let rows = t.shape.first().copied().unwrap_or(0);
    let last = t.shape.last().copied().unwrap_or(0);
    let bufs = vec![
        Buf { dtype: DType::U32, shape: vec![rows, last * bits as u64 / 32], data: Cow::Owned(wq) },
        Buf { dtype: DType::F16, shape: vec![rows, last / 32], data: Cow::Owned(scales) },
        Buf { dtype: DType::F16, shape: vec![rows, last / 32], data: Cow::Owned(biases) },
    ];
    let mut out = Vec::with_capacity(3);
    for b in bufs {
        let moved = apply_all(transforms, vec![b]).map_err(|e| Error::Convert(format!("'{name}': {e}")))?;
        out.extend(moved.into_iter().map(|b| b.data.into_owned()));
    }
    Ok(out)
}
