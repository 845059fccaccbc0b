//! Class names split into whole CamelCase tokens.
//!
//! Matching works on tokens, never on substrings, so `DiT` is found in
//! `HunyuanDiTPipeline` but not in `ConditionalDetrForObjectDetection`.
//!
//! Rules: non-alphanumeric characters separate; a token starts at an
//! uppercase letter that follows a lowercase letter or a digit, and at the
//! last capital of a run of capitals followed by a lowercase letter
//! (`LMHead` -> `LM`, `Head`); digits stay with the token before them
//! (`Qwen2`, `Seq2`). A few mixed-case acronyms are kept whole when they
//! start at a token boundary and are not followed by a lowercase letter.

/// Mixed-case acronyms that ordinary CamelCase splitting would cut apart.
const ACRONYMS: &[&str] = &["DiT", "ViT", "MoE", "UNet"];

/// Split a class name into tokens (borrowed from `name`).
pub fn class_tokens(name: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for chunk in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        split_chunk(chunk, &mut out);
    }
    out
}

fn split_chunk<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    let b = chunk.as_bytes();
    let n = b.len();
    let mut start = 0;
    let mut i = 0;
    while i < n {
        // At a token start, try the acronyms.
        if i == start {
            if let Some(a) = ACRONYMS.iter().find(|a| chunk[i..].starts_with(**a) && !b.get(i + a.len()).is_some_and(u8::is_ascii_lowercase)) {
                // Keep trailing digits with the acronym (`UNet2`).
                let mut end = i + a.len();
                while end < n && b[end].is_ascii_digit() {
                    end += 1;
                }
                out.push(&chunk[i..end]);
                start = end;
                i = end;
                continue;
            }
        }
        if i > start && is_boundary(b, i) {
            out.push(&chunk[start..i]);
            start = i;
            continue;
        }
        i += 1;
    }
    if start < n {
        out.push(&chunk[start..]);
    }
}

fn is_boundary(b: &[u8], i: usize) -> bool {
    let c = b[i];
    if !c.is_ascii_uppercase() {
        return false;
    }
    let prev = b[i - 1];
    if prev.is_ascii_lowercase() || prev.is_ascii_digit() {
        return true;
    }
    prev.is_ascii_uppercase() && b.get(i + 1).is_some_and(u8::is_ascii_lowercase)
}

/// Whether `needle` occurs as a contiguous run of whole tokens in `hay`
/// (at its end when `at_end`).
pub fn contains_tokens(hay: &[&str], needle: &[String], at_end: bool) -> bool {
    if needle.is_empty() || needle.len() > hay.len() {
        return false;
    }
    let eq = |w: &[&str]| w.iter().zip(needle).all(|(a, b)| *a == b.as_str());
    if at_end {
        eq(&hay[hay.len() - needle.len()..])
    } else {
        hay.windows(needle.len()).any(eq)
    }
}

#[cfg(test)]
mod tests {
    use super::class_tokens;

    #[test]
    fn splits() {
        assert_eq!(class_tokens("LlamaForCausalLM"), ["Llama", "For", "Causal", "LM"]);
        assert_eq!(class_tokens("GPT2LMHeadModel"), ["GPT2", "LM", "Head", "Model"]);
        assert_eq!(class_tokens("MyDiTConditionalModel"), ["My", "DiT", "Conditional", "Model"]);
        assert_eq!(class_tokens("ConditionalDetrForObjectDetection"), ["Conditional", "Detr", "For", "Object", "Detection"]);
        assert_eq!(class_tokens("WhisperForSpeechSeq2Seq"), ["Whisper", "For", "Speech", "Seq2", "Seq"]);
        assert_eq!(class_tokens("Qwen2_5_VLForConditionalGeneration"), ["Qwen2", "5", "VL", "For", "Conditional", "Generation"]);
        assert_eq!(class_tokens("UNet2DConditionModel"), ["UNet2", "D", "Condition", "Model"]);
        assert_eq!(class_tokens("OwlViTForObjectDetection"), ["Owl", "ViT", "For", "Object", "Detection"]);
        assert_eq!(class_tokens("DitheringModel"), ["Dithering", "Model"]);
        assert_eq!(class_tokens("Qwen2MoeForCausalLM"), ["Qwen2", "Moe", "For", "Causal", "LM"]);
        assert_eq!(class_tokens(""), Vec::<&str>::new());
        assert_eq!(class_tokens("é_ü"), Vec::<&str>::new());
    }
}
