//! Losses against hand-derived numbers.

use super::*;

/// Two sequences, V = 3, T = 4. Row 0: prompt of 2 tokens, response of 2. Row 1: prompt of 1
/// token, response of 1, then one padding position. Logits are chosen per position; the expected
/// value is the f64 sum of `log_softmax(z_{t−1})[x_t]` over response positions only, computed by
/// `aihf::math::log_softmax` (independent of libtorch).
#[test]
fn sequence_logprobs_sum_response_tokens_only() {
    let z: Vec<[f64; 3]> = vec![
        [0.1, 0.5, -0.3],
        [2.0, -1.0, 0.0],
        [0.3, 0.3, 1.7],
        [9.0, 9.0, 9.0], // last position: never used
        [1.0, 0.0, -1.0],
        [-2.0, 4.0, 0.5],
        [5.0, -5.0, 0.0],
        [0.0, 0.0, 0.0],
    ];
    let flat: Vec<f64> = z.iter().flatten().copied().collect();
    let logits = t(&flat).view([2, 4, 3]);
    let tokens = Tensor::from_slice(&[2i64, 0, 1, 2, 1, 2, 0, 0]).view([2, 4]);
    let mask = t(&[0., 0., 1., 1., 0., 1., 0., 0.]).view([2, 4]);
    let lp = loss::sequence_logprobs(&logits, &tokens, &mask);
    // Row 0: token 1 at position 2 (scored by z[1]) and token 2 at position 3 (scored by z[2]).
    let want0 = log_softmax(&z[1])[1] + log_softmax(&z[2])[2];
    // Row 1: token 2 at position 1 (scored by z[4]); prompt and padding excluded.
    let want1 = log_softmax(&z[4])[2];
    let got: Vec<f64> = Vec::try_from(lp.to_kind(Kind::Double)).unwrap();
    assert!(
        (got[0] - want0).abs() < 1e-5,
        "row 0: {} vs {want0}",
        got[0]
    );
    assert!(
        (got[1] - want1).abs() < 1e-5,
        "row 1: {} vs {want1}",
        got[1]
    );
}

/// bf16 logits are upcast: the result is f32 and matches the f32 computation on the same
/// (bf16-rounded) values.
#[test]
fn logits_are_upcast_before_log_softmax() {
    let logits = t(&[0.1, 3.0, -2.0, 1.0, 0.5, 0.25])
        .view([1, 2, 3])
        .to_kind(Kind::BFloat16);
    let tokens = Tensor::from_slice(&[0i64, 1]).view([1, 2]);
    let mask = t(&[0., 1.]).view([1, 2]);
    let lp = loss::sequence_logprobs(&logits, &tokens, &mask);
    assert_eq!(lp.kind(), Kind::Float);
    let want = loss::sequence_logprobs(&logits.to_kind(Kind::Float), &tokens, &mask);
    assert!((scalar(&lp) - scalar(&want)).abs() < 1e-6);
}

/// DPO, IPO, BTL, SFT on two records with weights (2, 1), against f64 formulas:
/// h_w − h_l per record: record 0: (−1 − (−1.5)) − (−2 − (−1.5)) = 0.5 + 0.5 = 1.0;
/// record 1: (−3 − (−2)) − (−1 − (−2)) = −1 − 1 = −2.0.
/// DPO(β = 0.5) = −(2 log σ(0.5) + log σ(−1.0)) / 3;
/// IPO(τ = 0.25, target 1/(2τ) = 2) = (2 (1 − 2)² + (−2 − 2)²) / 3 = (2 + 16)/3 = 6.
#[test]
fn losses_match_hand_derived_values() {
    let (lw, ll) = (t(&[-1.0, -3.0]), t(&[-2.0, -1.0]));
    let (rw, rl) = (t(&[-1.5, -2.0]), t(&[-1.5, -2.0]));
    let w = t(&[2.0, 1.0]);
    let dpo = scalar(&loss::dpo(&lw, &ll, &rw, &rl, 0.5, &w));
    let want = -(2.0 * log_sigmoid(0.5) + log_sigmoid(-1.0)) / 3.0;
    assert!((dpo - want).abs() < 1e-6, "DPO {dpo} vs {want}");
    let ipo = scalar(&loss::ipo(&lw, &ll, &rw, &rl, 0.25, &w));
    assert!((ipo - 6.0).abs() < 1e-5, "IPO {ipo} vs 6");
    // BTL on rewards (1, −1) vs (0, 2): margins 1 and −3.
    let btl = scalar(&loss::btl(&t(&[1.0, -1.0]), &t(&[0.0, 2.0]), &w));
    let want = -(2.0 * log_sigmoid(1.0) + log_sigmoid(-3.0)) / 3.0;
    assert!((btl - want).abs() < 1e-6, "BTL {btl} vs {want}");
    let sft = scalar(&loss::sft(&t(&[-1.0, -4.0]), &w));
    assert!((sft - 2.0).abs() < 1e-6, "SFT {sft} vs (2·1 + 4)/3 = 2");
    // Stability: a margin of −200 gives a loss of ≈ 200·β, not inf.
    let big = scalar(&loss::dpo(
        &t(&[-200.0]),
        &t(&[0.0]),
        &t(&[0.0]),
        &t(&[0.0]),
        1.0,
        &t(&[1.0]),
    ));
    assert!((big - 200.0).abs() < 1e-3, "DPO at margin −200: {big}");
}

/// The DPO and IPO losses over the de-duplicated table (duplicates as weights) equal the exact
/// layer's independent sums over the count matrix at an arbitrary policy (the task's `π*`):
/// `loss_DPO = −(1/M) Σ_{i≠j} M_ij log σ(β(h_i − h_j))` (`aihf::bandit::dpo_loglik`), and the IPO
/// loss against a direct f64 sum over the counts.
#[test]
fn table_losses_match_the_exact_layer_sums() {
    let cfg = CrossvalConfig::default();
    let p = crossval::prepare(&cfg).unwrap();
    let log_pi: Vec<f64> = p.task.pi_star.iter().map(|x| x.ln()).collect();
    let seq = |i: usize| p.task.index_of(&p.data.seqs[i].response).unwrap();
    let pick = |f: &dyn Fn(&(usize, usize, f64)) -> f64| {
        t(&p.data.prefs.iter().map(f).collect::<Vec<_>>())
    };
    let lw = pick(&|r| log_pi[seq(r.0)]);
    let ll = pick(&|r| log_pi[seq(r.1)]);
    let rw = pick(&|r| p.ref_logp[r.0]);
    let rl = pick(&|r| p.ref_logp[r.1]);
    let w = pick(&|r| r.2);
    let m = p.bandit.n_comparisons() as f64;
    for beta in [0.5, 1.0, 2.0] {
        let got = scalar(&loss::dpo(&lw, &ll, &rw, &rl, beta, &w));
        let want = -aihf::bandit::dpo_loglik(&p.bandit, &log_pi, &p.task.log_ref, beta) / m;
        assert!(
            (got - want).abs() < 1e-5 * want.abs().max(1.0),
            "β = {beta}: DPO {got} vs exact {want}"
        );
    }
    let tau = 0.3;
    let n = p.task.len();
    let mut want = 0.0;
    for i in 0..n {
        for j in 0..n {
            let c = p.bandit.pref(i, j) as f64;
            if c > 0.0 {
                let d =
                    (log_pi[i] - p.task.log_ref[i]) - (log_pi[j] - p.task.log_ref[j]) - 0.5 / tau;
                want += c * d * d;
            }
        }
    }
    want /= m;
    let got = scalar(&loss::ipo(&lw, &ll, &rw, &rl, tau, &w));
    assert!((got - want).abs() < 1e-5 * want, "IPO {got} vs {want}");
}

/// The assembled Direct AIHF loss in the trainer: at the tabular model's initialisation (the
/// uniform policy, `log π = −H log |V|` for every sequence) the first step's metrics must be
/// `sft = H log |V| = 3 log 4`, `pref_loss = (1/M) Σ_pairs −log σ(β (log π_ref(y_l) − log π_ref(y_w)))`
/// (h = −log π_ref, computed here in f64 from the task), and `loss = α·sft + pref_loss`.
/// SPIN/Self-Play AIHF: at the start of an iteration `π_φ = π_t`, so `h ≡ 0` and both their
/// terms equal `log 2`.
#[test]
fn trainer_losses_at_initialisation_match_hand_values() {
    let cfg = CrossvalConfig::default();
    let p = crossval::prepare(&cfg).unwrap();
    let (vocab, context) = p.task.vocab_context();
    let spec = ModelSpec {
        arch: Arch::Tabular,
        vocab,
        context,
    };
    let dir = tempfile::tempdir().unwrap();
    let (alpha, beta) = (0.7, 0.5);
    let hyper = Hyper {
        alpha,
        beta,
        ..Default::default()
    };
    let read = |path: &std::path::Path| -> serde_json::Value {
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str(text.lines().nth(1).unwrap()).unwrap()
    };
    let path = dir.path().join("d.jsonl");
    let tc = TrainConfig {
        steps: 1,
        metrics: Some(path.clone()),
        ..Default::default()
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let net = model::policy(&vs.root(), &spec).unwrap();
    train::train_policy(
        net.as_ref(),
        &vs,
        &p.data,
        train::Objective::DirectAihf,
        Some(&p.ref_logp),
        &hyper,
        &tc,
        None,
    )
    .unwrap();
    let m = read(&path);
    let sft_want = 3.0 * 4f64.ln();
    let (mut num, mut den) = (0.0, 0.0);
    for &(w, l, c) in &p.data.prefs {
        num += -c * log_sigmoid(beta * (p.ref_logp[l] - p.ref_logp[w]));
        den += c;
    }
    let pref_want = num / den;
    let (sft, pref, total) = (
        m["sft"].as_f64().unwrap(),
        m["pref_loss"].as_f64().unwrap(),
        m["loss"].as_f64().unwrap(),
    );
    assert!((sft - sft_want).abs() < 1e-5, "sft {sft} vs {sft_want}");
    assert!(
        (pref - pref_want).abs() < 1e-5,
        "pref_loss {pref} vs {pref_want}"
    );
    assert!(
        (total - (alpha * sft_want + pref_want)).abs() < 1e-5,
        "loss {total}"
    );

    let path = dir.path().join("s.jsonl");
    let tc = TrainConfig {
        steps: 1,
        metrics: Some(path.clone()),
        ..Default::default()
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let net = model::policy(&vs.root(), &spec).unwrap();
    let sp = SelfPlay {
        iters: 1,
        samples_per_prompt: 8,
        max_new_tokens: 3,
        eos: None,
        with_preferences: true,
        context: context as usize,
    };
    train::train_self_play(net.as_ref(), &vs, &p.data, &sp, &hyper, &tc).unwrap();
    let m = read(&path);
    let ln2 = 2f64.ln();
    for k in ["spin_loss", "pref_loss"] {
        let v = m[k].as_f64().unwrap();
        assert!((v - ln2).abs() < 1e-6, "{k} {v} vs log 2");
    }
    assert!((m["loss"].as_f64().unwrap() - (1.0 + hyper.lambda) * ln2).abs() < 1e-6);
}

/// A record repeated c times and the record once with weight c give the same loss and the same
/// gradient (the trainers merge duplicates into weights).
#[test]
fn weights_equal_repetition() {
    let x = Tensor::from_slice(&[0.3f32, -0.7]).set_requires_grad(true);
    let rep = loss::dpo(
        &x.get(0).repeat([3]),
        &x.get(1).repeat([3]),
        &t(&[0., 0., 0.]),
        &t(&[0., 0., 0.]),
        2.0,
        &t(&[1., 1., 1.]),
    );
    let one = loss::dpo(
        &x.get(0).view([1]),
        &x.get(1).view([1]),
        &t(&[0.]),
        &t(&[0.]),
        2.0,
        &t(&[3.]),
    );
    assert!((scalar(&rep) - scalar(&one)).abs() < 1e-7);
}
