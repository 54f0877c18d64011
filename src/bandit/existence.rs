//! Existence conditions checked before solving (SPEC §1.2, §1.4, §1.5), each failing with a
//! witness set of actions.

use crate::data::BanditData;
use crate::error::{AihfError, Result};

/// A directed graph in compressed sparse rows: the successors of `v` are
/// `adj[start[v]..start[v + 1]]`.
struct Csr {
    start: Vec<usize>,
    adj: Vec<u32>,
}

impl Csr {
    fn of(n: usize, edges: impl Iterator<Item = (usize, usize)> + Clone) -> Self {
        let mut start = vec![0usize; n + 1];
        for (a, _) in edges.clone() {
            start[a + 1] += 1;
        }
        for v in 0..n {
            start[v + 1] += start[v];
        }
        let mut fill = start.clone();
        let mut adj = vec![0u32; start[n]];
        for (a, b) in edges {
            adj[fill[a]] = b as u32;
            fill[a] += 1;
        }
        Csr { start, adj }
    }

    fn succ(&self, v: usize) -> &[u32] {
        &self.adj[self.start[v]..self.start[v + 1]]
    }
}

/// The edges `i → j` of the beats graph (`M_ij > 0`).
fn beats(data: &BanditData) -> Vec<(u32, u32)> {
    let mut e = Vec::with_capacity(2 * data.n_pairs());
    data.for_each_pair(|p| {
        if p.m_ij > 0 {
            e.push((p.i as u32, p.j as u32));
        }
        if p.m_ji > 0 {
            e.push((p.j as u32, p.i as u32));
        }
    });
    e
}

/// Sweeps [`sweeps_show_strongly_connected`] tries before the exact [`scc`].
const SWEEPS: usize = 4;

/// A sufficient condition for a strongly connected beats graph, in one pass without
/// allocation beyond a counter per action: some action has won and lost against every other
/// action (then every action reaches it and is reached from it). Replicated studies with
/// comparisons on every pair meet it almost always, so they skip [`scc`].
fn has_two_way_hub(data: &BanditData) -> bool {
    let n = data.n_actions();
    let mut two_way = vec![0usize; n];
    data.for_each_pair(|p| {
        if p.m_ij > 0 && p.m_ji > 0 {
            two_way[p.i] += 1;
            two_way[p.j] += 1;
        }
    });
    two_way.iter().any(|&c| c + 1 == n)
}

/// A sufficient condition for a strongly connected beats graph, in at most `max_sweeps`
/// passes over the pairs without building a graph: the actions action 0 reaches and those
/// that reach it, propagated along the pairs in table order (a pass follows every path whose
/// actions increase, so random comparison graphs need two or three). `true` proves strong
/// connectivity; `false` only means the sweeps did not show it ([`scc`] decides).
fn sweeps_show_strongly_connected(data: &BanditData, max_sweeps: usize) -> bool {
    let n = data.n_actions();
    // Bit 0: reached from action 0; bit 1: reaches action 0.
    let mut mark = vec![0u8; n];
    mark[0] = 3;
    for _ in 0..max_sweeps {
        data.for_each_pair(|p| {
            let (a, b) = (mark[p.i], mark[p.j]);
            // i beats j: i → j carries "reached" forward and "reaches" backward.
            let ij = u8::from(p.m_ij > 0) * 3;
            let ji = u8::from(p.m_ji > 0) * 3;
            mark[p.j] = b | (a & ij & 1) | (a & ji & 2);
            mark[p.i] = a | (b & ji & 1) | (b & ij & 2);
        });
        if mark.iter().all(|&m| m == 3) {
            return true;
        }
    }
    false
}

/// Strongly connected components of the "beats" graph (`i → j` when `M_ij > 0`), iterative
/// Kosaraju on compressed sparse rows (`O(n + pairs)` time and memory). Returns the component
/// id of each action and the number of components.
pub fn scc(data: &BanditData) -> (Vec<usize>, usize) {
    let n = data.n_actions();
    let e = beats(data);
    let out = Csr::of(n, e.iter().map(|&(a, b)| (a as usize, b as usize)));
    let inn = Csr::of(n, e.iter().map(|&(a, b)| (b as usize, a as usize)));
    scc_of(&out, &inn)
}

fn scc_of(out: &Csr, inn: &Csr) -> (Vec<usize>, usize) {
    let n = out.start.len() - 1;
    // First pass: finishing order on the forward graph.
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for s in 0..n {
        if seen[s] {
            continue;
        }
        seen[s] = true;
        stack.push((s, 0));
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            let succ = out.succ(v);
            if *k < succ.len() {
                let w = succ[*k] as usize;
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
    let mut stack = Vec::new();
    for &s in order.iter().rev() {
        if comp[s] != usize::MAX {
            continue;
        }
        comp[s] = c;
        stack.push(s);
        while let Some(v) = stack.pop() {
            for &w in inn.succ(v) {
                let w = w as usize;
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
    data.for_each_pair(|p| {
        if comp[p.i] != comp[p.j] {
            if p.m_ij > 0 {
                w[comp[p.i]] = true;
            }
            if p.m_ji > 0 {
                w[comp[p.j]] = true;
            }
        }
    });
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
    if has_two_way_hub(data) || sweeps_show_strongly_connected(data, SWEEPS) {
        return Ok(());
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
    if has_two_way_hub(data) || sweeps_show_strongly_connected(data, SWEEPS) {
        return Ok(());
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
    let mut is_bad = vec![false; nc];
    bad.iter().for_each(|&c| is_bad[c] = true);
    let s: Vec<usize> = (0..n).filter(|&i| is_bad[comp[i]]).collect();
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
    let mut e = Vec::with_capacity(2 * data.n_pairs());
    data.for_each_pair(|p| {
        e.push((p.i, p.j));
        e.push((p.j, p.i));
    });
    let adj = Csr::of(n, e.iter().copied());
    let mut seen = vec![false; n];
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(v) = stack.pop() {
        for &w in adj.succ(v) {
            let w = w as usize;
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
             π_ref = π_SFT); pass --ref-smoothing ε",
            fmt_set(&s)
        ),
        witness: s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The sweeps never claim strong connectivity that Kosaraju's components deny, and given
    /// as many sweeps as actions (every path has fewer steps, each sweep advances every path by
    /// at least one) they decide it exactly — on random graphs from empty to dense, where a
    /// few have one component and most of the sparse ones do not.
    #[test]
    fn sweeps_agree_with_the_strongly_connected_components() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut connected, mut shown_in_four) = (0, 0);
        for case in 0..400 {
            let n = 2 + case % 30;
            let m = rng.random_range(0..4 * n * n / 3);
            let recs: Vec<(usize, usize, u64)> = (0..m)
                .map(|_| {
                    let w = rng.random_range(0..n);
                    (w, (w + rng.random_range(1..n)) % n, 1)
                })
                .collect();
            let d = BanditData::from_records(n, vec![], recs).unwrap();
            let one = scc(&d).1 == 1;
            assert_eq!(sweeps_show_strongly_connected(&d, n), one, "case {case}");
            if sweeps_show_strongly_connected(&d, SWEEPS) {
                assert!(one, "case {case}");
                shown_in_four += 1;
            }
            connected += usize::from(one);
        }
        // Both outcomes occur, and the bounded sweeps settle most connected cases.
        assert!(connected > 50 && connected < 350, "{connected}");
        assert!(
            shown_in_four * 10 >= connected * 9,
            "{shown_in_four} of {connected}"
        );
    }
}
