//! Existence conditions checked before solving (SPEC §1.2, §1.4, §1.5), each failing with a
//! witness set of actions.

use crate::data::BanditData;
use crate::error::{AihfError, Result};

/// Strongly connected components of the "beats" graph (`i → j` when `M_ij > 0`), iterative
/// Kosaraju. Returns the component id of each action and the number of components.
pub fn scc(data: &BanditData) -> (Vec<usize>, usize) {
    let n = data.n_actions();
    let mut out: Vec<Vec<usize>> = vec![vec![]; n];
    let mut inn: Vec<Vec<usize>> = vec![vec![]; n];
    for p in data.pairs() {
        if p.m_ij > 0 {
            out[p.i].push(p.j);
            inn[p.j].push(p.i);
        }
        if p.m_ji > 0 {
            out[p.j].push(p.i);
            inn[p.i].push(p.j);
        }
    }
    scc_of(&out, &inn)
}

fn scc_of(out: &[Vec<usize>], inn: &[Vec<usize>]) -> (Vec<usize>, usize) {
    let n = out.len();
    // First pass: finishing order on the forward graph.
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    for s in 0..n {
        if seen[s] {
            continue;
        }
        seen[s] = true;
        let mut stack = vec![(s, 0usize)];
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            if *k < out[v].len() {
                let w = out[v][*k];
                *k += 1;
                if !seen[w] {
                    seen[w] = true;
                    stack.push((w, 0));
                }
            } else {
                order.push(v);
                stack.pop();
            }
        }
    }
    // Second pass: reverse graph in reverse finishing order.
    let mut comp = vec![usize::MAX; n];
    let mut c = 0;
    for &s in order.iter().rev() {
        if comp[s] != usize::MAX {
            continue;
        }
        comp[s] = c;
        let mut stack = vec![s];
        while let Some(v) = stack.pop() {
            for &w in &inn[v] {
                if comp[w] == usize::MAX {
                    comp[w] = c;
                    stack.push(w);
                }
            }
        }
        c += 1;
    }
    (comp, c)
}

/// For each component, whether it has an edge to another component (it "wins against its
/// complement").
fn wins_out(data: &BanditData, comp: &[usize], nc: usize) -> Vec<bool> {
    let mut w = vec![false; nc];
    for p in data.pairs() {
        if comp[p.i] != comp[p.j] {
            if p.m_ij > 0 {
                w[comp[p.i]] = true;
            }
            if p.m_ji > 0 {
                w[comp[p.j]] = true;
            }
        }
    }
    w
}

fn members(comp: &[usize], c: usize) -> Vec<usize> {
    comp.iter()
        .enumerate()
        .filter(|(_, &k)| k == c)
        .map(|(i, _)| i)
        .collect()
}

/// Formats a witness set.
pub fn fmt_set(s: &[usize]) -> String {
    const MAX: usize = 12;
    let mut parts: Vec<String> = s.iter().take(MAX).map(|x| x.to_string()).collect();
    if s.len() > MAX {
        parts.push(format!("... ({} in all)", s.len()));
    }
    format!("{{{}}}", parts.join(", "))
}

/// BTL's maximum-likelihood estimate exists (uniquely up to a constant) iff the beats graph is
/// strongly connected (Ford 1957; Hunter 2004). The witness is a component that never wins
/// against the rest.
pub fn check_btl(data: &BanditData, estimator: &str) -> Result<()> {
    let n = data.n_actions();
    if n == 1 {
        return Ok(());
    }
    if data.n_comparisons() == 0 {
        return Err(AihfError::NoEstimator {
            estimator: estimator.into(),
            reason: "there are no preference comparisons".into(),
            witness: (0..n).collect(),
        });
    }
    let (comp, nc) = scc(data);
    if nc == 1 {
        return Ok(());
    }
    let w = wins_out(data, &comp, nc);
    // A sink component (never wins outside) is the witness; its reward can be sent to −∞.
    let c = (0..nc).find(|&c| !w[c]).unwrap_or(0);
    let s = members(&comp, c);
    Err(AihfError::NoEstimator {
        estimator: estimator.into(),
        reason: format!(
            "the comparison graph is not strongly connected: actions {} never win against the \
             others (use --ridge to regularise)",
            fmt_set(&s)
        ),
        witness: s,
    })
}

/// AIHF's maximiser exists iff every proper subset of actions carries demonstrations or wins
/// against its complement at least once (SPEC §1.4). Checked on the condensation of the beats
/// graph: every sink component other than the whole set must carry demonstrations.
pub fn check_aihf(data: &BanditData, lambda: f64, estimator: &str) -> Result<()> {
    let n = data.n_actions();
    if data.n_demos() == 0 && (lambda == 0.0 || data.n_comparisons() == 0) {
        return Err(AihfError::NoEstimator {
            estimator: estimator.into(),
            reason: "there is no data (no demonstrations and no weighted preferences)".into(),
            witness: (0..n).collect(),
        });
    }
    let demos = data.demos();
    if lambda == 0.0 || data.n_comparisons() == 0 {
        // Demonstrations only: every action needs demonstrations.
        let s: Vec<usize> = (0..n).filter(|&i| demos[i] == 0).collect();
        if s.is_empty() {
            return Ok(());
        }
        return Err(AihfError::NoEstimator {
            estimator: estimator.into(),
            reason: format!(
                "actions {} have no demonstrations and no weighted preferences (their reward is −∞)",
                fmt_set(&s)
            ),
            witness: s,
        });
    }
    let (comp, nc) = scc(data);
    if nc == 1 {
        return Ok(());
    }
    let w = wins_out(data, &comp, nc);
    let mut has_demo = vec![false; nc];
    for i in 0..n {
        if demos[i] > 0 {
            has_demo[comp[i]] = true;
        }
    }
    let bad: Vec<usize> = (0..nc).filter(|&c| !w[c] && !has_demo[c]).collect();
    if bad.is_empty() {
        return Ok(());
    }
    let s: Vec<usize> = (0..n).filter(|&i| bad.contains(&comp[i])).collect();
    Err(AihfError::NoEstimator {
        estimator: estimator.into(),
        reason: format!(
            "actions {} never win against the others and have no demonstrations",
            fmt_set(&s)
        ),
        witness: s,
    })
}

/// Connected components of the undirected comparison graph (IPO's existence condition).
pub fn check_connected(data: &BanditData, estimator: &str) -> Result<()> {
    let n = data.n_actions();
    if n == 1 {
        return Ok(());
    }
    let mut adj: Vec<Vec<usize>> = vec![vec![]; n];
    for p in data.pairs() {
        adj[p.i].push(p.j);
        adj[p.j].push(p.i);
    }
    let mut seen = vec![false; n];
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(v) = stack.pop() {
        for &w in &adj[v] {
            if !seen[w] {
                seen[w] = true;
                stack.push(w);
            }
        }
    }
    let s: Vec<usize> = (0..n).filter(|&i| !seen[i]).collect();
    if s.is_empty() {
        return Ok(());
    }
    Err(AihfError::NoEstimator {
        estimator: estimator.into(),
        reason: format!(
            "actions {} are never compared with action 0 or anything connected to it",
            fmt_set(&s)
        ),
        witness: s,
    })
}

/// The DPO family needs `π_ref(i) > 0` for every action.
pub fn check_reference(log_ref: &[f64], estimator: &str) -> Result<()> {
    let s: Vec<usize> = (0..log_ref.len())
        .filter(|&i| !log_ref[i].is_finite())
        .collect();
    if s.is_empty() {
        return Ok(());
    }
    Err(AihfError::NoEstimator {
        estimator: estimator.into(),
        reason: format!(
            "the reference policy puts zero mass on actions {} (uncovered by demonstrations when \
             π_ref = π_SFT); pass --ref-smoothing ε or another reference",
            fmt_set(&s)
        ),
        witness: s,
    })
}
