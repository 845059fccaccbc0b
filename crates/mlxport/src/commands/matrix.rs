//! `mlxport parity matrix`: the parity matrix (`mlxport_workflow::matrix`)
//! from the command line, with its table.

use anyhow::Result;
use mlxport_contract::Target;
use mlxport_workflow::matrix::{cells, MatrixReport, MatrixRequest, HEADER};

use crate::cli::ParityMatrixArgs;
use crate::output::Table;

pub fn run(args: ParityMatrixArgs) -> Result<u8> {
    let targets = match args.target.as_str() {
        "scaffold" => vec![Target::Scaffold],
        "mlx-lm" => vec![Target::MlxLm],
        _ => vec![Target::Scaffold, Target::MlxLm],
    };
    let req = MatrixRequest {
        specs: args.specs.clone(),
        types: args.types.clone(),
        targets,
        work_dir: args.work_dir.clone(),
        harness: args.harness.settings(),
        output: args.out.clone(),
        markdown: args.markdown.clone(),
    };
    let report = mlxport_workflow::matrix::run(&req)?;
    if args.json {
        print!("{}", report.to_json());
    } else {
        print_table(&report);
    }
    Ok(if report.summary.unexpected == 0 { crate::exit::OK } else { crate::exit::CHECK_FAILED })
}

fn print_table(r: &MatrixReport) {
    let mut t = Table::new(&HEADER);
    t.right_align(&[5, 6, 7, 9]);
    for e in &r.entries {
        t.row(cells(e));
    }
    t.print();
    let sm = &r.summary;
    println!(
        "{} entries: {} pass, {} fail closed, {} fail, {} skipped; {} model types pass across {} families; {} unexpected",
        sm.entries,
        sm.passed,
        sm.fail_closed,
        sm.failed,
        sm.skipped,
        sm.model_types_passing.len(),
        sm.families_passing.len(),
        sm.unexpected
    );
}
