#!/bin/sh
# Re-records every trace fixture of the test suite from a checkout of the official code:
#   tools/record_fixtures.sh /path/to/TinyRecursiveModels [PYTHON]
# PYTHON defaults to python3 (it needs torch and numpy; on Debian use /usr/bin/python3).
# The official six are re-recorded from their own weights and batch (--init-from), with every
# update of the recursion; the train-run fixtures are recorded from a seed.
set -eu
TRM=${1:?usage: tools/record_fixtures.sh TRM_CHECKOUT [PYTHON]}
PY=${2:-python3}
cd "$(dirname "$0")/.."
X=tools/export_trace.py
O=test/fixtures/official
for f in act_continue_train arc_attn_rope_eval arc_attn_rope_train maze_attn_learned_train sudoku_mlp_eval; do
  "$PY" $X --repo "$TRM" --init-from $O/$f.safetensors --out $O/$f.safetensors
done
"$PY" $X --repo "$TRM" --init-from $O/sudoku_mlp_train.safetensors --out $O/sudoku_mlp_train.safetensors --blocks
E=test/fixtures/exported
"$PY" $X --repo "$TRM" --init-from $E/mlp_t_learned_train.safetensors --out $E/mlp_t_learned_train.safetensors
"$PY" $X --repo "$TRM" --init-from $E/act_continue_softmax_pad_train.safetensors \
  --out $E/act_continue_softmax_pad_train.safetensors
R=test/fixtures/train-run
mkdir -p $R
# Exploration 0.5, EMA, RoPE attention; warmup 2, cosine to lr_min_ratio 0.1 at step 6, two steps past it.
"$PY" $X --repo "$TRM" --mode train-run --steps 8 --seed 21 --case explore_ema_rope --exploration 0.5 --ema \
  --out $R/explore_ema_rope.safetensors --shadow \
  --train '{"lr": 0.001, "lr_min_ratio": 0.1, "lr_warmup_steps": 2, "total_steps": 6, "ema_rate": 0.9}' \
  --config '{"batch_size":4,"seq_len":12,"vocab_size":8,"num_puzzle_identifiers":6,"H_cycles":2,"L_cycles":2,"L_layers":1,"hidden_size":16,"num_heads":2,"expansion":2,"pos_encodings":"rope","halt_max_steps":3}'
# Q-continue, learned positions, puzzle_emb_ndim 24 > hidden 16 (two prefix positions, zero-padded).
"$PY" $X --repo "$TRM" --mode train-run --steps 6 --seed 22 --case continue_learned_wide_puzzle --ema \
  --out $R/continue_learned_wide_puzzle.safetensors --shadow \
  --train '{"lr": 0.002, "lr_min_ratio": 0.5, "lr_warmup_steps": 3, "puzzle_emb_lr": 0.05, "ema_rate": 0.95}' \
  --config '{"batch_size":3,"seq_len":10,"vocab_size":7,"num_puzzle_identifiers":4,"H_cycles":2,"L_cycles":3,"L_layers":1,"hidden_size":16,"num_heads":2,"expansion":2,"pos_encodings":"learned","puzzle_emb_ndim":24,"puzzle_emb_len":0,"halt_max_steps":3,"no_ACT_continue":false}'
# No puzzle embedding, no positions, MLP-t, halt_max_steps 1 (every row halts every step).
"$PY" $X --repo "$TRM" --mode train-run --steps 5 --seed 23 --case no_puzzle_none_halt1 \
  --out $R/no_puzzle_none_halt1.safetensors --shadow \
  --train '{"lr": 0.001, "lr_min_ratio": 0.0, "lr_warmup_steps": 1}' \
  --config '{"batch_size":3,"seq_len":9,"vocab_size":6,"num_puzzle_identifiers":1,"H_cycles":3,"L_cycles":2,"L_layers":1,"hidden_size":16,"num_heads":2,"expansion":2,"pos_encodings":"none","mlp_t":true,"puzzle_emb_ndim":0,"puzzle_emb_len":0,"halt_max_steps":1}'
# A deliberately changed copy of the official code: in the cycle with gradient, the second latent
# update sees x scaled by 1.001. `trm crosscheck` must name step 0 · cycle 2 · latent update 1.
M=$(mktemp -d)
trap 'rm -rf "$M"' EXIT
cp -r "$TRM"/. "$M"/
"$PY" - "$M/models/recursive_reasoning/trm.py" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
head, sep, tail = src.partition("# 1 with grad")
old = "z_L = self.L_level(z_L, z_H + input_embeddings, **seq_info)"
new = "z_L = self.L_level(z_L, z_H + input_embeddings * (1.0 if _L_step == 0 else 1.001), **seq_info)"
assert sep and tail.count(old) == 1, "trm.py: the latent update of the cycle with gradient was not found"
open(path, "w").write(head + sep + tail.replace(old, new))
PY
D=test/fixtures/mutated
mkdir -p $D
"$PY" $X --repo "$M" --mode train-run --steps 3 --seed 24 --case x_scaled_cycle2_update1 \
  --out $D/x_scaled_cycle2_update1.safetensors \
  --config '{"batch_size":2,"seq_len":8,"vocab_size":6,"num_puzzle_identifiers":3,"H_cycles":3,"L_cycles":3,"L_layers":1,"hidden_size":16,"num_heads":2,"expansion":2,"halt_max_steps":2}'
