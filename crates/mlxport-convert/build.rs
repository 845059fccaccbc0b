//! Detects whether the GGUF config and tokenizer translation modules
//! (written separately) provide their entry points yet, so conversion of
//! GGUF sources can call them once they do.

fn main() {
    for (file, func, cfg) in [
        ("src/gguf_config.rs", "fn config_from_gguf", "has_gguf_config"),
        ("src/gguf_tokenizer.rs", "fn tokenizer_files", "has_gguf_tokenizer"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-changed={file}");
        if std::fs::read_to_string(file).is_ok_and(|s| s.contains(func)) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
