//! The skill format's limits, and how synopses in the docs become the
//! invocations the audit parses.

use mlxport_skill::frontmatter::{check, parse};
use mlxport_skill::markdown::{anchors, commands, instances, links};

fn header(name: &str, description: &str, compatibility: &str) -> String {
    format!("---\nname: {name}\ndescription: {description}\ncompatibility: {compatibility}\n---\n# body\n")
}

fn errors(text: &str) -> Vec<String> {
    check(&parse(text).unwrap(), "mlxport").into_iter().filter(|i| i.error).map(|i| i.message).collect()
}

const DESC: &str = "Ports models. Use when porting. Do not use for training.";

#[test]
fn the_embedded_skill_keeps_the_limits() {
    let fm = parse(mlxport_skill::SKILL_MD).unwrap();
    assert!(check(&fm, "mlxport").is_empty());
    assert!(fm.fields["description"].chars().count() <= 1024);
    assert!(fm.body_lines < 500);
}

#[test]
fn front_matter_limits() {
    assert!(errors(&header("mlxport", DESC, "Needs Python.")).is_empty());
    let long = "a".repeat(65);
    assert!(errors(&header(&long, DESC, "x")).iter().any(|e| e.contains("65 characters")));
    for bad in ["MLXport", "mlx_port", "-mlxport", "mlxport-", "mlx--port"] {
        assert!(!errors(&header(bad, DESC, "x")).is_empty(), "{bad}");
    }
    assert!(errors(&header("other", DESC, "x")).iter().any(|e| e.contains("directory name")));
    let d = format!("Use when x. Do not use for y. {}", "z".repeat(1000));
    assert!(errors(&header("mlxport", &d, "x")).iter().any(|e| e.contains("1 to 1024")));
    assert!(errors(&header("mlxport", "Ports models.", "x")).len() == 2);
    assert!(errors(&header("mlxport", DESC, &"c".repeat(501))).iter().any(|e| e.contains("compatibility")));
    assert!(errors("---\nname: mlxport\ndescription: Use when x. Do not use for y.\n---\n").iter().any(|e| e.contains("compatibility")));
    // YAML hazards and unclosed headers are refused outright.
    assert!(parse("---\nname: mlxport\ndescription: a: b\n---\n").is_err());
    assert!(parse("---\nname: mlxport\n").is_err());
    assert!(parse("# no header\n").is_err());
    // Unknown fields are warnings.
    let w = check(&parse(&format!("---\nname: mlxport\ndescription: {DESC}\ncompatibility: x\ncolour: red\n---\n")).unwrap(), "mlxport");
    assert!(w.iter().any(|i| !i.error && i.message.contains("colour")));
}

#[test]
fn synopses_expand_into_each_invocation() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        instances("tensors [PATH...] [--stats] [--filter REGEX]").unwrap(),
        vec![s(&["tensors"]), s(&["tensors", "PATH"]), s(&["tensors", "--stats"]), s(&["tensors", "--filter", "REGEX"])]
    );
    assert_eq!(
        instances("capture (--package PKG --weights DIR | --mlx-lm MODEL_DIR) [-o capture.npz]").unwrap(),
        vec![
            s(&["capture", "--package", "PKG", "--weights", "DIR"]),
            s(&["capture", "--mlx-lm", "MODEL_DIR"]),
            s(&["capture", "--package", "PKG", "--weights", "DIR", "-o", "capture.npz"])
        ]
    );
    assert_eq!(
        instances("bench check RECEIPT... | --baseline R1 --candidate R2").unwrap(),
        vec![s(&["bench", "check", "RECEIPT"]), s(&["bench", "check", "--baseline", "R1", "--candidate", "R2"])]
    );
    assert_eq!(
        instances("plan X [--objective a|b] [--tol 'R=atol:1']").unwrap()[1..],
        [s(&["plan", "X", "--objective", "a"]), s(&["plan", "X", "--tol", "R=atol:1"])]
    );
    // Elided groups are left out rather than guessed.
    assert_eq!(instances("recommend X [--objective ...] [OPTIONS]").unwrap(), vec![s(&["recommend", "X"])]);
    assert!(instances("compare A B [--map").is_err());
}

#[test]
fn commands_links_and_anchors_are_found_outside_code() {
    let md = "# Title\n\nRun `mlxport docs parity` then `mlxport quantize` (planned).\n\
              A [link](a/b.md#x) and `[not](a link)`.\n\n```sh\n$ mlxport audit --strict\ncargo run -p mlxport -- tensors --stats\n```\n\
              <a id=\"custom\"></a>\n## Second part\n| `mlxport inspect M [--x a\\|b]` |\n";
    let c = commands(md);
    let texts: Vec<(&str, bool)> = c.iter().map(|c| (c.text.as_str(), c.planned)).collect();
    assert_eq!(texts, [("docs parity", false), ("quantize", true), ("inspect M [--x a|b]", false), ("audit --strict", false), ("tensors --stats", false)]);
    let l: Vec<String> = links(md).into_iter().map(|l| l.target).collect();
    assert_eq!(l, ["a/b.md#x"]);
    assert_eq!(anchors(md), ["title", "custom", "second-part"]);
}
