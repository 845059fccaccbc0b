//! `mlxport port`: the main job, from checkpoint to proven MLX port (the
//! orchestration lives in `crate::port`).

use anyhow::Result;

use crate::cli::PortArgs;

pub fn run(args: PortArgs) -> Result<u8> {
    crate::port::run(&args)
}
