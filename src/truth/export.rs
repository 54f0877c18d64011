//! `aihf truth export --format trl` (issue 13, part 2): the Markov task's data in TRL's dataset
//! conventions, with a Hugging Face word-level `tokenizer.json`, so any Hugging Face causal LM
//! can be trained on it by an outside trainer and scored by `aihf truth score`.
//!
//! Vocabulary item `i` is the word `t{i}`; a token sequence is its words joined by single
//! spaces. The prompt is the task's context `y_0` alone (`"t{y_0}"`); completions, chosen and
//! rejected responses start with a space (TRL's convention: `prompt + completion` is the full
//! text), which the whitespace pre-tokenizer drops, so every text field tokenizes to exactly its
//! `_ids` field. Three special tokens follow the vocabulary — `<eos>` = `V`, `<pad>` = `V + 1`,
//! `<unk>` = `V + 2` — because TRL appends an EOS to completions and pads batches; a policy
//! under test must give them no mass when it samples its `H` response tokens (see
//! `examples/trl/README.md`).
//!
//! Files written in `DIR`: `sft.jsonl` (`prompt`, `completion`, `prompt_ids`,
//! `completion_ids`), `dpo.jsonl` (`prompt`, `chosen`, `rejected` and their `_ids`),
//! `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json` (so
//! `AutoTokenizer.from_pretrained(DIR)` works) and `export.json` (sizes, special ids, `β`,
//! counts). Everything is validated and rendered before the first file is written.

use crate::error::{AihfError, Result};
use crate::io::write_atomic;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The text of token id `id`.
pub fn word(id: usize) -> String {
    format!("t{id}")
}

/// Token ids as text (`"t3 t0 t7"`).
pub fn ids_to_text(ids: &[usize]) -> String {
    ids.iter().map(|&i| word(i)).collect::<Vec<_>>().join(" ")
}

/// The special tokens after the vocabulary, in id order (`V`, `V + 1`, `V + 2`).
pub const SPECIAL_TOKENS: [&str; 3] = ["<eos>", "<pad>", "<unk>"];

/// A Hugging Face `tokenizer.json` for the vocabulary `t0 … t{V−1}` and [`SPECIAL_TOKENS`]:
/// a `WordLevel` model, a `WhitespaceSplit` pre-tokenizer, no normaliser, post-processor or
/// decoder (decoding joins tokens with spaces).
pub fn tokenizer_json(vocab: usize) -> Value {
    let mut map = serde_json::Map::with_capacity(vocab + SPECIAL_TOKENS.len());
    for i in 0..vocab {
        map.insert(word(i), json!(i));
    }
    let mut added = Vec::new();
    for (k, s) in SPECIAL_TOKENS.iter().enumerate() {
        map.insert((*s).into(), json!(vocab + k));
        added.push(json!({
            "id": vocab + k, "content": s, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true
        }));
    }
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": Value::Object(map), "unk_token": "<unk>"}
    })
}

/// The data to export: responses are `H` token ids below `V` to the prompt `[y_0]`.
#[derive(Clone, Debug)]
pub struct ExportData<'a> {
    /// Vocabulary size `V ≥ 1`: words `t0 … t{V−1}`; the special tokens take ids `V..V+3`.
    pub vocab: usize,
    /// Response length `H ≥ 1`: every demonstration, chosen and rejected response has `H` ids.
    pub horizon: usize,
    /// The prompt token `y_0 < V` (the prompt is `"t{y_0}"`).
    pub y0: usize,
    /// Temperature `β` of the task, recorded in `export.json` for the trainer.
    pub beta: f64,
    /// Demonstration responses (drawn from `π*`), one `sft.jsonl` record each.
    pub demos: &'a [Vec<usize>],
    /// `(chosen, rejected)`.
    pub prefs: &'a [(Vec<usize>, Vec<usize>)],
}

/// What [`export_trl`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportSummary {
    /// The files written, in order: `sft.jsonl`, `dpo.jsonl`, `tokenizer.json`,
    /// `tokenizer_config.json`, `special_tokens_map.json`, `export.json`.
    pub files: Vec<PathBuf>,
    /// Lines of `sft.jsonl` (one per demonstration).
    pub sft_records: usize,
    /// Lines of `dpo.jsonl` (one per preference pair).
    pub dpo_records: usize,
    /// Vocabulary size `V` of the task (the tokenizer has `V + 3` ids).
    pub vocab: usize,
    /// Response length `H` in tokens.
    pub horizon: usize,
    /// Id of `<eos>`, `V`.
    pub eos_id: usize,
    /// Id of `<pad>`, `V + 1`.
    pub pad_id: usize,
}

fn check(what: &str, i: usize, y: &[usize], vocab: usize, horizon: usize) -> Result<()> {
    if y.len() != horizon {
        return Err(AihfError::data(
            format!("{what} {i}"),
            format!("has {} tokens, the horizon is H = {horizon}", y.len()),
        ));
    }
    if let Some(k) = y.iter().position(|&v| v >= vocab) {
        return Err(AihfError::data(
            format!("{what} {i}, token {k}"),
            format!("id {} out of range 0..{vocab}", y[k]),
        ));
    }
    Ok(())
}

/// Reads the task and data files (checked by [`crate::truth::data`]: errors name the file and
/// line) and exports them ([`export_trl`]).
pub fn export_files(
    task: &Path,
    demos: Option<&Path>,
    prefs: Option<&Path>,
    out: &Path,
) -> Result<ExportSummary> {
    let spec = crate::truth::data::TaskSpec::read(task)?;
    let t = spec.task()?;
    let rec = crate::truth::data::read_records(&t, demos, prefs)?;
    export_trl(
        &ExportData {
            vocab: t.vocab(),
            horizon: t.horizon(),
            y0: t.y0(),
            beta: t.beta(),
            demos: &rec.demos,
            prefs: &rec.prefs,
        },
        out,
    )
}

/// Writes `data` to `out` in TRL's conventions (module docs); nothing is written when a
/// record is invalid.
pub fn export_trl(data: &ExportData<'_>, out: &Path) -> Result<ExportSummary> {
    let (v, h) = (data.vocab, data.horizon);
    if v == 0 || h == 0 || data.y0 >= v {
        return Err(AihfError::param(
            "task",
            format!(
                "need V ≥ 1, H ≥ 1 and y_0 < V, got V = {v}, H = {h}, y_0 = {}",
                data.y0
            ),
        ));
    }
    let prompt = word(data.y0);
    let mut sft = String::new();
    for (i, y) in data.demos.iter().enumerate() {
        check("demonstration", i, y, v, h)?;
        let rec = json!({
            "prompt": prompt, "completion": format!(" {}", ids_to_text(y)),
            "prompt_ids": [data.y0], "completion_ids": y,
        });
        sft.push_str(&rec.to_string());
        sft.push('\n');
    }
    let mut dpo = String::new();
    for (i, (c, r)) in data.prefs.iter().enumerate() {
        check("preference (chosen)", i, c, v, h)?;
        check("preference (rejected)", i, r, v, h)?;
        let rec = json!({
            "prompt": prompt,
            "chosen": format!(" {}", ids_to_text(c)),
            "rejected": format!(" {}", ids_to_text(r)),
            "prompt_ids": [data.y0], "chosen_ids": c, "rejected_ids": r,
        });
        dpo.push_str(&rec.to_string());
        dpo.push('\n');
    }
    let (eos, pad) = (v, v + 1);
    let config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
        "model_max_length": h + 2,
        "clean_up_tokenization_spaces": false,
    });
    let special = json!({"eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"});
    let meta = json!({
        "format": "trl",
        "vocab": v, "horizon": h, "y0": data.y0, "beta": data.beta,
        "model_vocab": v + SPECIAL_TOKENS.len(),
        "eos_id": eos, "pad_id": pad, "unk_id": v + 2,
        "sft_records": data.demos.len(), "dpo_records": data.prefs.len(),
        "note": "sample exactly H tokens with the special ids masked out; the log-probability \
                 of a response is the sum over its H tokens (no EOS); see examples/trl/README.md",
    });
    let pretty = |x: &Value| serde_json::to_string_pretty(x).expect("a json! value serialises");
    let files: Vec<(&str, String)> = vec![
        ("sft.jsonl", sft),
        ("dpo.jsonl", dpo),
        ("tokenizer.json", pretty(&tokenizer_json(v))),
        ("tokenizer_config.json", pretty(&config)),
        ("special_tokens_map.json", pretty(&special)),
        ("export.json", pretty(&meta)),
    ];
    let mut written = Vec::with_capacity(files.len());
    for (name, text) in files {
        let p = out.join(name);
        write_atomic(&p, text.as_bytes())?;
        written.push(p);
    }
    Ok(ExportSummary {
        files: written,
        sft_records: data.demos.len(),
        dpo_records: data.prefs.len(),
        vocab: v,
        horizon: h,
        eos_id: eos,
        pad_id: pad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_vocab_agree() {
        assert_eq!(ids_to_text(&[3, 0, 12]), "t3 t0 t12");
        let t = tokenizer_json(4);
        assert_eq!(t["model"]["vocab"]["t3"], json!(3));
        assert_eq!(t["model"]["vocab"]["<eos>"], json!(4));
        assert_eq!(t["added_tokens"][2]["id"], json!(6));
    }
}
