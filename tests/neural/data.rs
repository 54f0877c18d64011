//! Data.

use super::*;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn ro(vocab: i64, context: i64, truncate: bool) -> ReadOptions {
    ReadOptions {
        vocab,
        context,
        truncate,
    }
}

#[test]
fn reads_text_and_ids_and_merges_duplicates() {
    let f = file("{\"prompt\": \"hi\", \"completion\": \"yo\", \"source\": \"x\"}\n\n{\"prompt_ids\": [256, 104, 105], \"completion_ids\": [121, 111, 257]}\n");
    let d = read_demos(f.path(), &ro(258, 16, false)).unwrap();
    assert_eq!(d.records.len(), 2);
    assert_eq!(d.records[0].prompt, vec![ByteTokenizer::BOS, 104, 105]);
    assert_eq!(d.records[0].completion, vec![121, 111, ByteTokenizer::EOS]);
    assert_eq!(d.records[0], d.records[1]);
    let table = SeqData::from_records(&d.records, &[]);
    assert_eq!(table.seqs.len(), 1);
    assert_eq!(table.demos, vec![(0, 2.0)]);
    let p = file("{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n");
    let p = read_prefs(p.path(), &ro(258, 16, false)).unwrap();
    assert_eq!(ByteTokenizer.decode(&p.records[0].chosen), "a");
}

/// Bad input: each case must fail with the file's line number and the reason.
#[test]
fn malformed_records_are_errors_with_line_numbers() {
    let cases: &[(&str, i64, i64, &str)] = &[
        ("{\"prompt_ids\":[0],\"completion_ids\":[1]}\n{\"prompt_ids\":[0],\"completion_ids\":[1]\n", 4, 8, ":2: malformed JSON"),
        ("{\"prompt_ids\":[0],\"completion_ids\":[1]}\n\n{\"prompt_ids\":[0],\"completion_ids\":[4]}\n", 4, 8, ":3: `completion_ids[0]` = 4 is outside the vocabulary 0..4"),
        ("{\"prompt_ids\":[0],\"completion_ids\":[-1]}\n", 4, 8, ":1: `completion_ids[0]` = -1 is outside"),
        ("{\"prompt_ids\":[0],\"completion_ids\":[1.5]}\n", 4, 8, ":1: `completion_ids[0]` = 1.5 is not an integer"),
        ("{\"prompt_ids\":[0,1,2],\"completion_ids\":[1,2,3]}\n", 4, 5, ":1: prompt + response is 6 tokens, over the context of 5"),
        ("{\"prompt\":\"a\",\"prompt_ids\":[0],\"completion_ids\":[1]}\n", 258, 8, ":1: has both `prompt` and `prompt_ids`"),
        ("{\"prompt\":\"a\",\"completion\":\"b\"}\n", 4, 8, ":1: text field `prompt` needs the byte tokenizer"),
        ("{\"prompt_ids\":[],\"completion_ids\":[1]}\n", 4, 8, ":1: empty prompt"),
        ("{\"prompt_ids\":[0]}\n", 4, 8, ":1: missing `completion`"),
        ("[1, 2]\n", 4, 8, ":1: expected a JSON object"),
        ("\n\n", 4, 8, "no records"),
    ];
    for (text, vocab, context, want) in cases {
        let f = file(text);
        let e = read_demos(f.path(), &ro(*vocab, *context, false))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(want),
            "input {text:?}: error {e:?} does not contain {want:?}"
        );
    }
    let f = file("{\"prompt_ids\":[0],\"chosen_ids\":[1],\"rejected_ids\":[9]}\n");
    let e = read_prefs(f.path(), &ro(4, 8, false))
        .unwrap_err()
        .to_string();
    assert!(e.contains(":1: `rejected_ids[0]` = 9 is outside"), "{e}");
}

#[test]
fn truncation_only_when_asked_and_counted() {
    let f = file("{\"prompt_ids\":[0,1,2],\"completion_ids\":[1,2,3]}\n{\"prompt_ids\":[0],\"completion_ids\":[1]}\n");
    assert!(read_demos(f.path(), &ro(4, 5, false)).is_err());
    let d = read_demos(f.path(), &ro(4, 5, true)).unwrap();
    assert_eq!(d.truncated, 1);
    // The prompt keeps its last tokens (2 of 3), the response stays whole.
    assert_eq!(d.records[0].prompt, vec![1, 2]);
    assert_eq!(d.records[0].completion, vec![1, 2, 3]);
    // A response longer than the context keeps one prompt token and is cut on the right.
    let f = file("{\"prompt_ids\":[0,1],\"completion_ids\":[1,2,3,0,1]}\n");
    let d = read_demos(f.path(), &ro(4, 4, true)).unwrap();
    assert_eq!(
        (d.records[0].prompt.clone(), d.records[0].completion.clone()),
        (vec![1], vec![1, 2, 3])
    );
}

/// The generator's files read back to the same counts the exact layer sees.
#[test]
fn generated_task_round_trips_through_jsonl() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let task = EnumTask::new(
        TaskConfig {
            n_demos: 50,
            n_comparisons: 40,
            ..Default::default()
        },
        &mut rng,
    )
    .unwrap();
    let s: f64 = task.pi_star.iter().sum();
    assert!((s - 1.0).abs() < 1e-12);
    let sref: f64 = task.log_ref.iter().map(|l| l.exp()).sum();
    assert!(
        (sref - 1.0).abs() < 1e-12,
        "the reference is a distribution over V^H: Σ = {sref}"
    );
    let (demos, prefs) = task.sample(&mut rng);
    let fd = file(&aihf::neural::data::demos_to_jsonl(&demos));
    let fp = file(&aihf::neural::data::prefs_to_jsonl(&prefs));
    let (vocab, context) = task.vocab_context();
    let d: Vec<Demo> = read_demos(fd.path(), &ro(vocab, context, false))
        .unwrap()
        .records;
    let p: Vec<Pref> = read_prefs(fp.path(), &ro(vocab, context, false))
        .unwrap()
        .records;
    assert_eq!(
        task.to_bandit(&d, &p).unwrap(),
        task.to_bandit(&demos, &prefs).unwrap()
    );
    assert_eq!(task.to_bandit(&d, &p).unwrap().n_demos(), 50);
}
