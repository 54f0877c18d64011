//! `aihf truth score`, `aihf truth export`, `aihf truth kl-study` (issue 13): score an outside
//! trainer's policy against the exact truth, export the data for TRL, and the KL-estimator study.

use aihf::truth::{export, klstudy, score};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// `truth score`.
#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// The task (task.json of `truth gen`); `-` reads standard input.
    #[arg(long)]
    pub task: PathBuf,
    /// Responses sampled from the policy under test, one JSON object per line:
    /// {"completion_ids": [...], "logprob": x} or "token_logprobs": [...] (prompt_ids optional);
    /// `-` reads standard input.
    #[arg(long)]
    pub samples: PathBuf,
    /// An exact estimator's policy (`truth estimate --policy-out`): also report KL(π‖π̂); `-`
    /// reads standard input.
    #[arg(long)]
    pub estimate: Option<PathBuf>,
    /// Which policy of a multi-policy --estimate file (e.g. `aihf`).
    #[arg(long, requires = "estimate")]
    pub estimate_name: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Folder for score.json, frontier.json and the figure frontier.{png,svg}.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exact draws from π* for the win rate.
    #[arg(long, default_value_t = score::DEFAULT_STAR_SAMPLES)]
    pub star_samples: usize,
    /// Seed of the π* draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The policy's name on the figure.
    #[arg(long, default_value = "policy")]
    pub label: String,
}

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// TRL's prompt/completion and prompt/chosen/rejected conventions + a HF tokenizer.json.
    Trl,
}

/// `truth export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The task (task.json of `truth gen`); `-` reads standard input.
    #[arg(long)]
    pub task: PathBuf,
    /// Demonstrations (demos.jsonl of `truth gen`); `-` reads standard input.
    #[arg(long)]
    pub demos: Option<PathBuf>,
    /// Preferences (prefs.jsonl of `truth gen`); `-` reads standard input.
    #[arg(long)]
    pub prefs: Option<PathBuf>,
    /// Export format.
    #[arg(long, value_enum, default_value_t = Format::Trl)]
    pub format: Format,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

/// `truth kl-study`.
#[derive(Args, Debug)]
pub struct KlStudyArgs {
    /// Output folder: kl_study.json and the figures.
    #[arg(long)]
    pub out: PathBuf,
    /// The published sizes (4,000 replications, n up to 1,024) instead of the quick ones.
    #[arg(long)]
    pub full: bool,
    /// Seed of the study.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replications (overrides the preset).
    #[arg(long)]
    pub replications: Option<usize>,
    /// Redraw the figures from an existing kl_study.json in --out instead of recomputing.
    #[arg(long, conflicts_with_all = ["full", "seed", "replications", "quiet"])]
    pub redraw: bool,
    /// No progress bar.
    #[arg(long, alias = "no-progress")]
    pub quiet: bool,
}

/// Runs `truth score`: scores the samples ([`score::score_and_write`]) and prints the JSON or
/// the table, then the files written.
pub fn run_score(a: &ScoreArgs) -> anyhow::Result<()> {
    // The label names the policy on the figure, which only `--out` draws.
    if a.out.is_none() && a.label != "policy" {
        return Err(aihf::error::AihfError::param(
            "label",
            "names the policy on the figure, which only --out draws (it would be ignored)",
        )
        .into());
    }
    aihf::io::at_most_one_stdio(&[
        ("--task", Some(&a.task)),
        ("--samples", Some(&a.samples)),
        ("--estimate", a.estimate.as_deref()),
    ])?;
    let files = score::ScoreFiles {
        task: &a.task,
        samples: &a.samples,
        estimate: a
            .estimate
            .as_deref()
            .map(|p| (p, a.estimate_name.as_deref())),
        label: a.label.clone(),
    };
    let opts = score::ScoreOptions {
        star_samples: a.star_samples,
        seed: a.seed,
    };
    let (rep, written) = score::score_and_write(&files, opts, a.out.as_deref())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        for line in rep.table_lines() {
            println!("{line}");
        }
    }
    for f in &written {
        super::wrote(f, a.json);
    }
    Ok(())
}

/// Runs `truth export`.
pub fn run_export(a: &ExportArgs) -> anyhow::Result<()> {
    let Format::Trl = a.format;
    aihf::io::at_most_one_stdio(&[
        ("--task", Some(&a.task)),
        ("--demos", a.demos.as_deref()),
        ("--prefs", a.prefs.as_deref()),
    ])?;
    let s = export::export_files(&a.task, a.demos.as_deref(), a.prefs.as_deref(), &a.out)?;
    println!(
        "exported to {}: {} SFT records, {} DPO records; vocabulary t0..t{} + <eos> = {}, <pad> = {}",
        a.out.display(),
        s.sft_records,
        s.dpo_records,
        s.vocab - 1,
        s.eos_id,
        s.pad_id
    );
    for f in &s.files {
        super::wrote(f, false);
    }
    Ok(())
}

/// Runs `truth kl-study`.
pub fn run_kl_study(a: &KlStudyArgs) -> anyhow::Result<()> {
    let study = if a.redraw {
        aihf::io::read_json(&a.out.join("kl_study.json"))?
    } else {
        let mut cfg = if a.full {
            klstudy::KlStudyConfig::full(a.seed)
        } else {
            klstudy::KlStudyConfig::quick(a.seed)
        };
        if let Some(r) = a.replications {
            cfg.replications = r;
        }
        let s = klstudy::run(&cfg, !a.quiet)?;
        aihf::io::write_json(&a.out.join("kl_study.json"), &s)?;
        super::wrote(&a.out.join("kl_study.json"), false);
        s
    };
    let csv = a.out.join("kl_study.csv");
    aihf::io::write_csv(
        &csv,
        &aihf::truth::report::csv::KL_STUDY_HEADER,
        &aihf::truth::report::csv::kl_study_rows(&study),
    )?;
    let files = klstudy::draw(&study, &a.out)?;
    for line in &study.summary {
        println!("{line}");
    }
    println!(
        "k3 loss vs ∇KL(π_ref‖π): relative distance {:.2e}",
        study.k3_loss_vs_reverse_kl
    );
    println!("({:.1} s)", study.seconds);
    super::wrote(&csv, false);
    for f in &files {
        super::wrote(f, false);
    }
    Ok(())
}
