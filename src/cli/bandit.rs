//! `aihf bandit --data FILE`: solve the one-step estimators.

use aihf::bandit::{fit, Method, Normalization, Options, Weighting};
use aihf::data::BanditData;
use aihf::io::csv_num;
use aihf::math::{kl, tv};
use anyhow::Context;
use clap::{Args as ClapArgs, ValueEnum};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// A method name, or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Sft,
    Btl,
    Rlhf,
    Aihf,
    Dpo,
    Ipo,
    DirectAihf,
    Spin,
    SelfPlayAihf,
    All,
}

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Data set (JSON; see `aihf::data` or the README for the format); `-` reads standard
    /// input.
    #[arg(long)]
    pub data: PathBuf,
    /// Estimator, or `all`.
    #[arg(long, value_enum, default_value = "all")]
    pub method: MethodArg,
    /// Temperature β > 0.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub beta: f64,
    /// AIHF's preference weight λ ≥ 0 (also Self-Play AIHF's).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub lambda: f64,
    /// AIHF weighting of the two sources.
    #[arg(long, value_enum, default_value = "counts")]
    pub weighting: Weighting,
    /// Demonstration weight w of the `normalized` weighting (default 1; only with `--weighting
    /// normalized`).
    #[arg(long, allow_negative_numbers = true)]
    pub demo_weight: Option<f64>,
    /// Ridge α ≥ 0 (makes BTL/AIHF/DPO exist on any data).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub ridge: f64,
    /// Temperature β' of AIHF's preference term σ((r_i − r_j)/β') (default 1: SPEC §1.4's σ(r_i − r_j) at every β).
    #[arg(long, allow_negative_numbers = true)]
    pub beta_pref: Option<f64>,
    /// Normalise rewards so that this action's reward is 0 (default: mean zero).
    #[arg(long)]
    pub ref_action: Option<usize>,
    /// Smooth π_ref = π_SFT of the DPO family: (N_i + ε)/(N + nε).
    #[arg(long, allow_negative_numbers = true)]
    pub ref_smoothing: Option<f64>,
    /// IPO's τ > 0.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub ipo_tau: f64,
    /// Direct AIHF's demonstration weight α ≥ 0.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Maximum SPIN / Self-Play AIHF iterations.
    #[arg(long, default_value_t = 500)]
    pub spin_iters: usize,
    /// Print one JSON object per method instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON to this file (atomically); `-` writes it to standard output and the
    /// table to standard error.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the results as a tidy CSV (one row per estimator × action; columns in the
    /// README) to this file (atomically).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print where the time goes to stderr: reading and parsing the file, the existence
    /// checks (timed on their own; each estimator runs them again inside its fit), each
    /// estimator's fit (checks + solve), and writing the output.
    #[arg(long)]
    pub timing: bool,
}

fn fmt_vec(v: &[f64]) -> String {
    const MAX: usize = 10;
    let mut s: Vec<String> = v.iter().take(MAX).map(|x| format!("{x:.4}")).collect();
    if v.len() > MAX {
        s.push(format!("… ({} in all)", v.len()));
    }
    s.join(" ")
}

/// Columns of `--csv` (README, "bandit CSV"): one row per estimator × action.
const CSV_HEADER: [&str; 17] = [
    "estimator",
    "action",
    "beta",
    "lambda",
    "weighting",
    "demo_weight",
    "ridge",
    "policy",
    "reward",
    "true_policy",
    "true_reward",
    "kl_truth",
    "l1_truth",
    "objective",
    "grad_norm",
    "iterations",
    "error",
];

fn weighting_name(w: Weighting) -> &'static str {
    match w {
        Weighting::Counts => "counts",
        Weighting::Normalized => "normalized",
    }
}

/// Distances of an estimate to the truth the data file carries.
struct Distance {
    /// `KL(π_truth‖π̂)` (`+∞` when π̂ is zero where π_truth is not).
    kl: f64,
    /// `‖π̂ − π_truth‖₁` (twice the total variation).
    l1: f64,
}

impl Distance {
    fn of(truth: &[f64], est: &[f64]) -> Self {
        Distance {
            kl: kl(truth, est),
            l1: 2.0 * tv(truth, est),
        }
    }

    fn json(&self) -> Value {
        json!({
            // JSON has no ∞: an infinite KL is null with `kl_infinite` true.
            "kl_truth_to_estimate": self.kl.is_finite().then_some(self.kl),
            "kl_infinite": self.kl.is_infinite(),
            "l1": self.l1,
            "tv": self.l1 / 2.0,
        })
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let json_to_stdout = a.out.as_deref().is_some_and(aihf::io::is_stdio);
    if a.json && json_to_stdout {
        anyhow::bail!(
            "invalid options `--json` and `--out -`: both write the JSON to standard output; use one"
        );
    }
    if a.demo_weight.is_some() && a.weighting != Weighting::Normalized {
        return Err(aihf::error::AihfError::param(
            "demo-weight",
            "applies only to --weighting normalized (it would be ignored)",
        )
        .into());
    }
    let opts = Options {
        beta: a.beta,
        lambda: a.lambda,
        weighting: a.weighting,
        demo_weight: a.demo_weight.unwrap_or(1.0),
        ridge: a.ridge,
        beta_pref: a.beta_pref,
        normalization: a
            .ref_action
            .map_or(Normalization::MeanZero, Normalization::Reference),
        ref_smoothing: a.ref_smoothing,
        ipo_tau: a.ipo_tau,
        direct_alpha: a.alpha,
        spin_iters: a.spin_iters,
        ..Options::default()
    };
    // The scalar options are checked before the data are read (`--beta -1` is a parameter
    // error even when the file is missing); the action-dependent ones once `n` is known.
    opts.validate(a.ref_action.map_or(1, |k| k.saturating_add(1)))?;
    let t_parse = std::time::Instant::now();
    let data = BanditData::from_file(&a.data)?;
    let parse_s = t_parse.elapsed().as_secs_f64();
    opts.validate(data.n_actions())?;
    let methods: Vec<Method> = match a.method {
        MethodArg::All => Method::ALL.to_vec(),
        m => vec![Method::ALL[m as usize]],
    };
    let single = methods.len() == 1;
    // An option no requested method reads would be ignored: refuse it (`all` reads them all).
    if let Some(name) = opts.unused_by(&methods).first() {
        return Err(aihf::error::AihfError::param(
            *name,
            format!(
                "is not used by --method {} (it would be ignored)",
                methods[0].name()
            ),
        )
        .into());
    }
    // The truth the file carries (`aihf sample` writes `meta.true_reward`/`true_policy`).
    let truth = aihf::data::meta_truth(&data.meta, opts.beta, data.n_actions())?;
    let checks_s = if a.timing {
        let t = std::time::Instant::now();
        // The checks alone (results ignored: each fit runs and reports them again).
        let _ = aihf::bandit::existence::check_btl(&data, "BTL");
        let _ = aihf::bandit::existence::check_aihf(&data, opts.lambda, "AIHF");
        Some(t.elapsed().as_secs_f64())
    } else {
        None
    };
    let mut fit_times = vec![];
    let mut out = Map::new();
    let mut rows = Vec::new();
    let mut csv_rows: Vec<Vec<String>> = Vec::new();
    let n = data.n_actions();
    let params = [
        opts.beta.to_string(),
        opts.lambda.to_string(),
        weighting_name(opts.weighting).to_string(),
        opts.demo_weight.to_string(),
        opts.ridge.to_string(),
    ];
    for m in methods {
        let t = std::time::Instant::now();
        let res = fit(m, &data, &opts);
        let seconds = t.elapsed().as_secs_f64();
        fit_times.push((m.name(), seconds));
        match res {
            Ok(f) => {
                let dist = truth.as_ref().map(|t| Distance::of(&t.policy, &f.policy));
                rows.push(format!(
                    "{:<15} objective {:>14.6e}  |grad| {:>9.2e}  iters {:>4}  {:.2e} s\n{:<15} policy  {}\n{:<15} reward  {}",
                    m.name(),
                    f.objective,
                    f.grad_norm,
                    f.iterations,
                    seconds,
                    "",
                    fmt_vec(&f.policy),
                    "",
                    f.reward
                        .iter()
                        .take(10)
                        .map(|r| r.map_or("-inf".to_string(), |x| format!("{x:.4}")))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
                if let Some(d) = &dist {
                    rows.push(format!(
                        "{:<15} truth   KL(π_truth‖π̂) {}  ‖π̂ − π_truth‖₁ {:.4e}",
                        "",
                        if d.kl.is_finite() {
                            format!("{:.4e}", d.kl)
                        } else {
                            "∞ (π̂ is 0 where π_truth is not)".into()
                        },
                        d.l1
                    ));
                }
                let mut o = json!({
                    "policy": f.policy,
                    "reward": f.reward,
                    "objective": f.objective,
                    "grad_norm": f.grad_norm,
                    "iterations": f.iterations,
                    "seconds": seconds,
                });
                if let Some(d) = &dist {
                    o["truth_distance"] = d.json();
                }
                for i in 0..n {
                    let mut r = vec![m.name().to_string(), i.to_string()];
                    r.extend(params.iter().cloned());
                    r.extend([
                        csv_num(f.policy[i]),
                        f.reward[i].map_or_else(|| "-Inf".to_string(), csv_num),
                        truth
                            .as_ref()
                            .map_or(String::new(), |t| csv_num(t.policy[i])),
                        truth
                            .as_ref()
                            .and_then(|t| t.reward.as_ref())
                            .map_or(String::new(), |r| csv_num(r[i])),
                        dist.as_ref().map_or(String::new(), |d| csv_num(d.kl)),
                        dist.as_ref().map_or(String::new(), |d| csv_num(d.l1)),
                        csv_num(f.objective),
                        csv_num(f.grad_norm),
                        f.iterations.to_string(),
                        String::new(),
                    ]);
                    csv_rows.push(r);
                }
                out.insert(m.name().into(), o);
            }
            Err(e) if !single => {
                rows.push(format!("{:<15} does not exist: {e}", m.name()));
                for i in 0..n {
                    let mut r = vec![m.name().to_string(), i.to_string()];
                    r.extend(params.iter().cloned());
                    r.extend(std::iter::repeat_n(String::new(), 2));
                    r.push(
                        truth
                            .as_ref()
                            .map_or(String::new(), |t| csv_num(t.policy[i])),
                    );
                    r.push(
                        truth
                            .as_ref()
                            .and_then(|t| t.reward.as_ref())
                            .map_or(String::new(), |r| csv_num(r[i])),
                    );
                    r.extend(std::iter::repeat_n(String::new(), 5));
                    r.push(e.to_string());
                    csv_rows.push(r);
                }
                out.insert(m.name().into(), json!({ "error": e.to_string() }));
            }
            Err(e) => return Err(e).with_context(|| format!("method {}", m.name())),
        }
    }
    let t_out = std::time::Instant::now();
    // Every parameter that produced the numbers, and the input file's hash.
    out.insert(
        "parameters".into(),
        json!({
            "generator": "aihf bandit",
            "version": env!("CARGO_PKG_VERSION"),
            "data": aihf::io::input_record(&a.data)?,
            "n_actions": n,
            "n_demos": data.n_demos(),
            "n_comparisons": data.n_comparisons(),
            "beta": opts.beta,
            "lambda": opts.lambda,
            "weighting": weighting_name(opts.weighting),
            "demo_weight": opts.demo_weight,
            "ridge": opts.ridge,
            "beta_pref": opts.beta_pref,
            "ref_action": a.ref_action,
            "ref_smoothing": opts.ref_smoothing,
            "ipo_tau": opts.ipo_tau,
            "alpha": opts.direct_alpha,
            "spin_iters": opts.spin_iters,
            "data_seed": data.meta.get("seed"),
            "truth": truth.as_ref().map(|t| json!({
                "source": t.source,
                "policy": t.policy,
                "reward": t.reward,
            })),
        }),
    );
    let value = Value::Object(out);
    if let Some(path) = &a.out {
        aihf::io::write_json(path, &value)?;
    }
    if let Some(path) = &a.csv {
        aihf::io::write_csv(path, &CSV_HEADER, &csv_rows)?;
    }
    // When the JSON goes to standard output, the table goes to standard error.
    let say = |line: &str| {
        if json_to_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        say(&format!(
            "{} actions, N = {} demonstrations, M = {} comparisons; β = {}, λ = {}, weighting = {:?}",
            data.n_actions(),
            data.n_demos(),
            data.n_comparisons(),
            opts.beta,
            opts.lambda,
            opts.weighting
        ));
        if let Some(t) = &truth {
            say(&format!(
                "truth: {} (distances KL(π_truth‖π̂) and ‖π̂ − π_truth‖₁)",
                t.source
            ));
        }
        for r in rows {
            say(&r);
        }
    }
    for path in a.out.iter().chain(&a.csv) {
        super::wrote(path, a.json || json_to_stdout);
    }
    if let Some(checks_s) = checks_s {
        let fits: Vec<String> = fit_times
            .iter()
            .map(|(m, s)| format!("{m} {s:.4} s"))
            .collect();
        eprintln!(
            "timing: {} actions, {} compared pairs; parse {parse_s:.4} s, checks {checks_s:.4} s \
             (BTL + AIHF existence, timed alone), fit (checks + solve) {}, output {:.4} s",
            data.n_actions(),
            data.n_pairs(),
            fits.join(", "),
            t_out.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
