"""Train a tiny GPT-2 from scratch with TRL's SFTTrainer, then DPOTrainer, on data exported by
`aihf truth export --format trl`, and sample responses of exactly H tokens with their
log-probabilities for `aihf truth score`.

    python train_trl.py EXPORT_DIR OUT_DIR [--samples N] [--seed S]

What has to match for the scores to be comparable with the exact truth (examples/trl/README.md):
- EOS: TRL appends `<eos>` to every completion / chosen / rejected text, so the model learns an
  end-of-sequence token the Markov task does not have. Sampling therefore masks every special
  token (`<eos>`, `<pad>`, `<unk>`: ids V, V+1, V+2) at each of the H steps and renormalises
  over the V real tokens; the log-probabilities written are those of this masked policy, which
  is the policy being scored (its samples and log-probabilities agree).
- Length: every response has exactly H tokens, so TRL's sequence log-probabilities need no
  length normalisation (and none is applied: DPO's default `sigmoid` loss sums them).
- β: DPO's β is the task's β (export.json), so the DPO target is
  `π_SFT(y) exp(r*(y)/β)/Z` — the toolkit's `rlhf` estimator with the SFT reference (which TRL's
  reference model, the SFT checkpoint, is), not π*.
"""

import argparse
import json
import os
import time

import torch
from datasets import load_dataset
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer


def sample(model, prompt_id, vocab, horizon, n, seed):
    """n responses of exactly `horizon` tokens, special tokens masked; per-token log-probs."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    out, lps = [], []
    with torch.no_grad():
        for start in range(0, n, 1000):
            b = min(1000, n - start)
            x = torch.full((b, 1), prompt_id, dtype=torch.long)
            past, tok_lp = None, []
            inp = x
            for _ in range(horizon):
                o = model(input_ids=inp, past_key_values=past, use_cache=True)
                past = o.past_key_values
                logits = o.logits[:, -1, :].double()
                logits[:, vocab:] = float("-inf")  # no EOS/pad/unk: exactly H real tokens
                logp = torch.log_softmax(logits, dim=-1)
                nxt = torch.multinomial(logp.exp(), 1, generator=g)
                tok_lp.append(logp.gather(1, nxt))
                x = torch.cat([x, nxt], dim=1)
                inp = nxt
            out.extend(x[:, 1:].tolist())
            lps.extend(torch.cat(tok_lp, dim=1).tolist())
    return out, lps


def write_samples(path, prompt_id, ys, lps):
    with open(path, "w") as f:
        for y, lp in zip(ys, lps):
            f.write(json.dumps({"prompt_ids": [prompt_id], "completion_ids": y,
                                "token_logprobs": lp, "logprob": sum(lp)}) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("export_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sft-epochs", type=float, default=8)
    ap.add_argument("--dpo-epochs", type=float, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    # A 2-layer width-64 model gains nothing from intra-op threads; on a shared CPU they thrash.
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    meta = json.load(open(os.path.join(a.export_dir, "export.json")))
    V, H, y0, beta = meta["vocab"], meta["horizon"], meta["y0"], meta["beta"]
    tok = PreTrainedTokenizerFast.from_pretrained(a.export_dir)
    assert tok.eos_token_id == meta["eos_id"] and tok.pad_token_id == meta["pad_id"]
    cfg = GPT2Config(vocab_size=meta["model_vocab"], n_positions=H + 2, n_embd=64, n_layer=2,
                     n_head=2, bos_token_id=meta["eos_id"], eos_token_id=meta["eos_id"],
                     pad_token_id=meta["pad_id"])
    model = GPT2LMHeadModel(cfg)
    os.makedirs(a.out_dir, exist_ok=True)
    times = {}
    # Text columns only: the tokenizer does the rest, as for any Hugging Face dataset.
    sft = load_dataset("json", data_files=os.path.join(a.export_dir, "sft.jsonl"))["train"]
    sft = sft.select_columns(["prompt", "completion"])
    common = dict(report_to=[], use_cpu=True, save_strategy="no", logging_steps=50,
                  seed=a.seed, max_length=H + 2, dataloader_num_workers=0)
    t0 = time.time()
    SFTTrainer(model=model, processing_class=tok, train_dataset=sft,
               args=SFTConfig(output_dir=os.path.join(a.out_dir, "sft"), num_train_epochs=a.sft_epochs,
                              per_device_train_batch_size=64, learning_rate=3e-3,
                              lr_scheduler_type="cosine", completion_only_loss=True, **common)).train()
    times["sft_train_s"] = time.time() - t0
    model.save_pretrained(os.path.join(a.out_dir, "sft_model"))
    ys, lps = sample(model, y0, V, H, a.samples, a.seed + 1)
    write_samples(os.path.join(a.out_dir, "samples_sft.jsonl"), y0, ys, lps)

    dpo = load_dataset("json", data_files=os.path.join(a.export_dir, "dpo.jsonl"))["train"]
    dpo = dpo.select_columns(["prompt", "chosen", "rejected"])
    ref = GPT2LMHeadModel.from_pretrained(os.path.join(a.out_dir, "sft_model"))
    t0 = time.time()
    DPOTrainer(model=model, ref_model=ref, processing_class=tok, train_dataset=dpo,
               args=DPOConfig(output_dir=os.path.join(a.out_dir, "dpo"), num_train_epochs=a.dpo_epochs,
                              per_device_train_batch_size=64, learning_rate=1e-3, beta=beta,
                              **common)).train()
    times["dpo_train_s"] = time.time() - t0
    ys, lps = sample(model, y0, V, H, a.samples, a.seed + 2)
    write_samples(os.path.join(a.out_dir, "samples_dpo.jsonl"), y0, ys, lps)
    json.dump(times, open(os.path.join(a.out_dir, "times.json"), "w"), indent=1)
    print(json.dumps(times))


if __name__ == "__main__":
    main()
