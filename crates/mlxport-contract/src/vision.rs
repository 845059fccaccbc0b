//! Which image model types `mlxport port` proves end to end (the vision
//! template implements them), and the feature that keeps each known other
//! type out. The scaffold refuses by this table and the plan reports from
//! it, so the two never disagree.

/// Image model types the vision template implements.
pub const PORTABLE: &[&str] = &["vit", "deit", "dinov2", "dinov2_with_registers", "clip", "siglip", "convnext", "convnextv2", "resnet"];

/// Image model types the template does not implement, with the feature
/// that keeps them out.
pub const REFUSED: &[(&str, &str)] = &[
    ("beit", "relative position biases inside every attention block"),
    ("data2vec-vision", "relative position biases inside every attention block"),
    ("swin", "shifted-window attention over hierarchical patch merging"),
    ("swinv2", "shifted-window attention with log-spaced continuous position bias"),
    ("levit", "convolutional stem and attention with learned biases per stage"),
    ("mobilevit", "convolutional blocks mixed with unfold/fold transformers"),
    ("siglip2", "NaFlex variable-resolution patching (position embeddings resized per image, patch attention masks)"),
    ("clip_vision_model", "a lone CLIP image tower (the template has the two-tower CLIPModel)"),
    ("siglip_vision_model", "a lone SigLIP image tower (the template has the two-tower SiglipModel)"),
];

/// Why an image model type cannot be ported end to end (`None`: it can).
pub fn missing_feature(model_type: &str) -> Option<String> {
    missing_in(model_type, PORTABLE, REFUSED, "vision")
}

/// The refusal of `model_type` by a template that implements `portable`
/// and knows why it refuses each of `refused` (`None`: it is portable).
pub(crate) fn missing_in(model_type: &str, portable: &[&str], refused: &[(&str, &str)], template: &str) -> Option<String> {
    if portable.contains(&model_type) {
        return None;
    }
    Some(match refused.iter().find(|(t, _)| *t == model_type) {
        Some((_, feature)) => format!("{feature} of model_type '{model_type}' ({template} template: {})", portable.join(", ")),
        None => format!("model_type '{model_type}' ({template} template: {})", portable.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_and_refused_types() {
        assert_eq!(missing_feature("vit"), None);
        assert!(missing_feature("swin").unwrap().starts_with("shifted-window attention over hierarchical patch merging of model_type 'swin'"));
        assert!(missing_feature("efficientnet").unwrap().starts_with("model_type 'efficientnet'"));
        assert!(REFUSED.iter().all(|(t, _)| !PORTABLE.contains(t)));
    }
}
