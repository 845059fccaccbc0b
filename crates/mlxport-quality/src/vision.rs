//! Image-model quality: does the candidate classify each image as the
//! reference does, and do its image features point where the reference's
//! do?
//!
//! Classifiers: top-1 agreement (the same argmax class, fraction of
//! images) and top-5 overlap (|top-5(ref) ∩ top-5(cand)| / 5, mean over
//! images; k is the class count when there are fewer than 5). Every model:
//! cosine per image between the two models' features (the pooled output,
//! or the CLS token after the final norm), mean and min and where. All
//! arithmetic in f64; ties in a ranking are broken by the lower class index.

use crate::encoder::{cosine, ranking};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VisionMetrics {
    pub images: usize,
    pub hidden: usize,
    /// Classes of the classifier head (0: a feature model).
    pub classes: usize,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub cosine_mean: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub cosine_min: f64,
    pub cosine_min_image: usize,
    /// Classifiers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top1_agreement: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top5_overlap: Option<f64>,
    /// The k of the top-k overlap (5, or the class count when smaller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
}

fn rows<'a>(what: &str, a: &'a [f32], b: &'a [f32], width: usize) -> Result<usize> {
    if width == 0 || a.len() != b.len() || a.is_empty() || !a.len().is_multiple_of(width) {
        return Err(Error::Mismatch(format!("{what}: {} and {} values do not form the same [N, {width}] layout", a.len(), b.len())));
    }
    if a.iter().chain(b).any(|x| !x.is_finite()) {
        return Err(Error::NonFinite(format!("non-finite values (NaN or Inf) in the {what}: the model output is broken")));
    }
    Ok(a.len() / width)
}

/// `reference`/`candidate` features `[N, hidden]`; logits `[N, classes]`
/// of both when the model is a classifier.
pub fn compute(reference: &[f32], candidate: &[f32], hidden: usize, logits: Option<(&[f32], &[f32], usize)>) -> Result<VisionMetrics> {
    let n = rows("image features", reference, candidate, hidden)?;
    let row = |m: &'_ [f32], i: usize, w: usize| -> Vec<f32> { m[i * w..(i + 1) * w].to_vec() };
    let cos: Vec<f64> = (0..n).map(|i| cosine(&row(reference, i, hidden), &row(candidate, i, hidden))).collect();
    let (cosine_min_image, cosine_min) = cos.iter().enumerate().fold((0, f64::INFINITY), |b, (i, &c)| if c < b.1 { (i, c) } else { b });
    let mut m = VisionMetrics {
        images: n,
        hidden,
        classes: 0,
        cosine_mean: cos.iter().sum::<f64>() / n as f64,
        cosine_min,
        cosine_min_image,
        top1_agreement: None,
        top5_overlap: None,
        k: None,
    };
    if let Some((lr, lc, classes)) = logits {
        if rows("logits", lr, lc, classes)? != n {
            return Err(Error::Mismatch(format!("logits of {} images, features of {n}", lr.len() / classes)));
        }
        let k = classes.min(5);
        let (mut top1, mut overlap) = (0usize, 0f64);
        for i in 0..n {
            let as_f64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
            let (rr, rc) = (ranking(&as_f64(row(lr, i, classes))), ranking(&as_f64(row(lc, i, classes))));
            top1 += (rr[0] == rc[0]) as usize;
            overlap += rr[..k].iter().filter(|c| rc[..k].contains(c)).count() as f64 / k as f64;
        }
        m.classes = classes;
        m.top1_agreement = Some(top1 as f64 / n as f64);
        m.top5_overlap = Some(overlap / n as f64);
        m.k = Some(k);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_and_overlap_by_hand() {
        // Two images, three classes (k = 3), features of width 2.
        let f = [1.0, 0.0, 0.0, 1.0];
        let g = [1.0, 0.0, 1.0, 1.0];
        let lr = [3.0, 2.0, 1.0, 0.0, 1.0, 2.0];
        let lc = [3.0, 2.0, 1.0, 2.0, 1.0, 0.0];
        let m = compute(&f, &g, 2, Some((&lr, &lc, 3))).unwrap();
        assert_eq!((m.images, m.classes, m.k), (2, 3, Some(3)));
        assert_eq!(m.top1_agreement, Some(0.5));
        assert_eq!(m.top5_overlap, Some(1.0));
        assert!((m.cosine_min - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12 && m.cosine_min_image == 1);
        assert!((m.cosine_mean - (1.0 + std::f64::consts::FRAC_1_SQRT_2) / 2.0).abs() < 1e-12);
        // Ten classes: k = 5.
        let a: Vec<f32> = (0..10).map(|x| x as f32).collect();
        let mut b = a.clone();
        b.swap(9, 0); // the best class becomes the worst
        let m = compute(&[1.0], &[1.0], 1, Some((&a, &b, 10))).unwrap();
        assert_eq!((m.top1_agreement, m.top5_overlap), (Some(0.0), Some(0.8)));
    }

    #[test]
    fn broken_inputs_are_errors() {
        assert!(compute(&[1.0, 2.0], &[1.0], 1, None).is_err());
        assert!(compute(&[f32::NAN], &[1.0], 1, None).is_err());
        assert!(compute(&[1.0], &[1.0], 1, Some((&[1.0, 2.0], &[1.0, 2.0], 1))).is_err());
    }
}
