//! `mlxport profile PORT_DIR`: a port's decoder as served, measured (the
//! job is `mlxport_workflow::profile`).

use anyhow::Result;
use mlxport_util::human::bytes as human_bytes;
use mlxport_workflow::profile::ProfileRequest;

use crate::cli::ProfileArgs;
use crate::output::Table;

pub fn run(a: ProfileArgs) -> Result<u8> {
    let req = ProfileRequest {
        port_dir: a.port_dir.clone(),
        options: a.options.clone(),
        prompt_tokens: a.prompt_tokens.clone(),
        contexts: a.contexts.clone(),
        gen_tokens: a.gen_tokens,
        runs: a.runs,
        seed: a.seed,
        harness: a.harness.settings(),
    };
    let (p, path) = mlxport_workflow::profile::run(&req)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(crate::exit::OK);
    }
    println!("profile of {} ({}, mlx {}) -> {}", p.implementation, p.device, p.mlx.as_deref().unwrap_or("?"), path.display());
    if let Some(o) = &p.options {
        println!("  options {o}");
    }
    println!(
        "  load {:.2} s; first call on {} tokens {:.3} s, again {:.3} s: first-call cost {:.3} s",
        p.load_s, p.first_call.tokens, p.first_call.first_s, p.first_call.again_s, p.first_call.cost_s
    );
    let mut t = Table::new(&["prompt", "prefill tok/s", "MLX peak"]);
    t.right_align(&[1, 2]);
    for x in &p.prefill {
        t.row(vec![x.prompt_tokens.to_string(), format!("{:.1}", x.tokens_per_s), human_bytes(x.peak_memory_bytes as u64)]);
    }
    t.print();
    let mut t = Table::new(&["context", "decode tok/s", "step (median)", "Python share", "MLX peak"]);
    t.right_align(&[1, 2, 3, 4]);
    for x in &p.decode {
        t.row(vec![
            x.context_tokens.to_string(),
            format!("{:.2}", x.tokens_per_s),
            format!("{:.1} ms", x.step_median_s * 1e3),
            format!("{:.1}%", x.python_share * 100.0),
            human_bytes(x.peak_memory_bytes as u64),
        ]);
    }
    t.print();
    Ok(crate::exit::OK)
}
