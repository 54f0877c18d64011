//! The command tree itself (issue 14, part 3), walked from `aihf`'s own clap definition: every
//! subcommand has a description, every argument of every subcommand has help text, every option
//! that takes a value accepts a negative number as that value, and every list option accepts a
//! list that starts with one. A table of command lines then checks that the parser really does
//! (no process is started: `try_get_matches_from`).

// The binary's CLI module, compiled into this test so that its `clap::Command` can be walked
// (the CLI lives in the binary, not in the library).
#[allow(dead_code, unused_imports)]
#[path = "../src/cli/mod.rs"]
mod cli;

/// Every subcommand reached from `cmd`, with its full name (`aihf mdp train`).
fn all_commands(cmd: &clap::Command, name: String, out: &mut Vec<(String, clap::Command)>) {
    out.push((name.clone(), cmd.clone()));
    for s in cmd.get_subcommands() {
        all_commands(s, format!("{name} {}", s.get_name()), out);
    }
}

fn commands() -> Vec<(String, clap::Command)> {
    let mut v = vec![];
    all_commands(&cli::command(), "aihf".into(), &mut v);
    v
}

#[test]
fn the_tree_has_every_command() {
    let names: Vec<String> = commands().into_iter().map(|c| c.0).collect();
    for expected in [
        "aihf bandit",
        "aihf sample",
        "aihf verify",
        "aihf mdp solve",
        "aihf mdp sample",
        "aihf mdp train",
        "aihf rates",
        "aihf sim",
        "aihf sim merge",
        "aihf truth gen",
        "aihf truth score",
        "aihf truth export",
        "aihf truth kl-study",
        "aihf truth estimate",
        "aihf truth study",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn every_command_and_argument_has_help() {
    let mut missing = vec![];
    let mut checked = 0;
    for (name, cmd) in commands() {
        if name != "aihf" && cmd.get_about().is_none() && cmd.get_long_about().is_none() {
            missing.push(format!("{name} (the command)"));
        }
        for a in cmd.get_arguments() {
            if a.is_hide_set() {
                continue;
            }
            checked += 1;
            let help = a
                .get_help()
                .or(a.get_long_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            if help.trim().is_empty() {
                missing.push(format!("{name} --{}", a.get_id()));
            }
        }
    }
    assert!(checked > 100, "only {checked} arguments walked");
    assert!(missing.is_empty(), "arguments without help: {missing:#?}");
}

#[test]
fn every_value_option_accepts_negative_numbers() {
    let mut bad = vec![];
    let mut lists = 0;
    for (name, cmd) in commands() {
        for a in cmd.get_arguments() {
            if a.is_positional() || !a.get_action().takes_values() {
                continue;
            }
            if !a.is_allow_negative_numbers_set() {
                bad.push(format!("{name} --{}: negative numbers", a.get_id()));
            }
            let real = a.get_value_parser().type_id() == std::any::TypeId::of::<f64>();
            if real && !a.is_allow_hyphen_values_set() {
                bad.push(format!("{name} --{}: a real such as -1e-3", a.get_id()));
            }
            if a.get_value_delimiter().is_some() {
                lists += 1;
                if !a.is_allow_hyphen_values_set() {
                    bad.push(format!("{name} --{}: list starting with '-'", a.get_id()));
                }
            }
        }
    }
    assert!(
        lists >= 2,
        "expected the list options (--reward, --log2-k), saw {lists}"
    );
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Parses `line` with the binary's command tree.
fn parse(line: &[&str]) -> Result<clap::ArgMatches, clap::Error> {
    cli::command().try_get_matches_from(std::iter::once("aihf").chain(line.iter().copied()))
}

#[test]
fn negative_values_and_lists_parse() {
    // (command line, a subcommand path to the matches, the option, its expected value(s)).
    type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a str, &'a [f64]);
    let floats: &[Case] = &[
        (
            &["sample", "--reward", "-1,0.5"],
            &["sample"],
            "reward",
            &[-1.0, 0.5],
        ),
        (
            &["sample", "--reward", "-1,-2,3"],
            &["sample"],
            "reward",
            &[-1.0, -2.0, 3.0],
        ),
        (
            &["sample", "--reward=-1,0.5"],
            &["sample"],
            "reward",
            &[-1.0, 0.5],
        ),
        (&["sample", "--beta", "-1"], &["sample"], "beta", &[-1.0]),
        (
            &["sample", "--slope", "-0.1", "--truth", "linear"],
            &["sample"],
            "slope",
            &[-0.1],
        ),
        (
            &["bandit", "--data", "x", "--beta", "-1"],
            &["bandit"],
            "beta",
            &[-1.0],
        ),
        (
            &["bandit", "--data", "x", "--lambda", "-2"],
            &["bandit"],
            "lambda",
            &[-2.0],
        ),
        (
            &["bandit", "--data", "x", "--ridge", "-1e-3"],
            &["bandit"],
            "ridge",
            &[-1e-3],
        ),
        (
            &[
                "mdp", "train", "--mdp", "m", "--demos", "d", "--out", "o", "--alpha", "-1",
            ],
            &["mdp", "train"],
            "alpha",
            &[-1.0],
        ),
        (
            &["mdp", "solve", "--mdp", "m", "--tol", "-1"],
            &["mdp", "solve"],
            "tol",
            &[-1.0],
        ),
        (&["rates", "--gamma", "-0.5"], &["rates"], "gamma", &[-0.5]),
        (&["rates", "--lambda", "-1"], &["rates"], "lambda", &[-1.0]),
        (
            &["truth", "estimate", "--task", "t", "--lambda", "-1"],
            &["truth", "estimate"],
            "lambda",
            &[-1.0],
        ),
        (
            &["truth", "gen", "--out-dir", "o", "--beta", "-1"],
            &["truth", "gen"],
            "beta",
            &[-1.0],
        ),
    ];
    for (line, path, id, want) in floats {
        let m = parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let mut sub = &m;
        for p in *path {
            sub = sub.subcommand_matches(p).unwrap();
        }
        let got: Vec<f64> = sub.get_many::<f64>(id).unwrap().copied().collect();
        assert_eq!(got.len(), want.len(), "{line:?}");
        for (g, w) in got.iter().zip(*want) {
            assert!(
                (g - w).abs() <= 1e-12,
                "{line:?}: {id} = {got:?}, expected {want:?}"
            );
        }
    }
    // `-` alone is a value (standard input/output), never a flag.
    let m = parse(&["bandit", "--data", "-"]).unwrap();
    let data: &std::path::PathBuf = m
        .subcommand_matches("bandit")
        .unwrap()
        .get_one("data")
        .unwrap();
    assert_eq!(data.to_str(), Some("-"));
    // A negative count reaches the value parser (a typed "invalid value"), not "unexpected
    // argument '-3'".
    for line in [
        &["sample", "--n-actions", "-3"][..],
        &["rates", "--log2-k", "-1,3"],
        &["rates", "--seeds", "-2"],
        &["mdp", "sample", "--mdp", "m", "--out", "o", "--n", "-5"],
    ] {
        let e = parse(line).expect_err("a negative count is refused");
        let msg = e.to_string();
        assert_eq!(
            e.kind(),
            clap::error::ErrorKind::ValueValidation,
            "{line:?}: {msg}"
        );
        assert!(msg.contains("invalid value '-"), "{line:?}: {msg}");
    }
}

#[test]
fn progress_switch_is_quiet_with_a_hidden_no_progress_alias() {
    // Every command with a progress bar spells its switch `--quiet`; `--no-progress` parses as
    // the same switch and is not shown in the help.
    let with_progress: &[&[&str]] = &[
        &["rates"],
        &["sim", "s.toml"],
        &["truth", "study", "s.toml"],
        &["truth", "kl-study", "--out", "o"],
        &["verify"],
        #[cfg(feature = "neural")]
        &["neural", "crossval"],
        #[cfg(feature = "neural")]
        &["neural", "ground-truth", "--out", "o"],
    ];
    for line in with_progress {
        for switch in ["--quiet", "--no-progress"] {
            let mut l = line.to_vec();
            l.push(switch);
            let m = parse(&l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            let mut sub = &m;
            while let Some((_, s)) = sub.subcommand() {
                sub = s;
            }
            assert!(sub.get_flag("quiet"), "{l:?} did not set quiet");
        }
    }
    for (name, cmd) in commands() {
        let help = cmd.clone().render_long_help().to_string();
        assert!(
            !help.contains("--no-progress"),
            "{name} shows --no-progress"
        );
    }
}
