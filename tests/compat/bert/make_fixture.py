#!/usr/bin/python3
"""The random-weight BERT fixture (tests/fixtures/bert-tiny, Hugging Face + sentence-transformers
layout) and the embeddings an independent numpy forward gives for it.

  make_fixture.py model    writes the model directory (vocab from Austen, seeded weights)
  make_fixture.py expect   reads wordpiece_expected.json (ids from Hugging Face's own
                           tokenizers.js, record_wordpiece.mjs) and writes embeddings_expected.json

regenerate.sh runs the three steps. Needs python3-numpy (Debian), nothing of xops.
"""
import collections, json, math, os, re, struct, sys, unicodedata
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
OUT = os.path.join(ROOT, 'tests', 'fixtures', 'bert-tiny')
AUSTEN = os.path.join(ROOT, '..', 'shared', 'data', 'austen.txt')
CFG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
           max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12)
MAX_SEQ = 24  # sentence_bert_config.json: longer inputs are truncated (tested)


def vocab():  # each token once (a repeated one shifts every id after it)
    v = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    v += [c for c in '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~']
    v += [c for c in '0123456789abcdefghijklmnopqrstuvwxyz']
    v += ['##' + c for c in '0123456789abcdefghijklmnopqrstuvwxyz']
    v += ['##ed', '##ing', '##ly', '##er', '##est', '##ness', '##tion', '##ment', '##able']
    v += list('東京日本の首都で中国人') + list('σιυφοςαβγ') + ['café', 'cafe', 'naive', 'resume']
    text = open(AUSTEN, encoding='utf-8').read().lower()
    words = collections.Counter(re.findall(r'[a-z]{2,}', text))
    for w, _ in words.most_common(700):
        if w not in v:
            v.append(w)
    assert len(v) == len(set(v)), 'a token listed twice'
    return v


def st_write(path, tensors):
    """safetensors, written from its specification (header length, JSON header, raw data)."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors:
        b = np.ascontiguousarray(arr, dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(arr.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def weights(n_vocab):
    rng = np.random.default_rng(20261206)
    H, I = CFG['hidden_size'], CFG['intermediate_size']
    mat = lambda *s: rng.normal(0, 0.2, s).astype(np.float32)
    ln = lambda: (1 + rng.normal(0, 0.1, H)).astype(np.float32)
    bias = lambda n: rng.normal(0, 0.1, n).astype(np.float32)
    t = [('embeddings.word_embeddings.weight', mat(n_vocab, H)),
         ('embeddings.position_embeddings.weight', mat(CFG['max_position_embeddings'], H)),
         ('embeddings.token_type_embeddings.weight', mat(CFG['type_vocab_size'], H)),
         ('embeddings.LayerNorm.weight', ln()), ('embeddings.LayerNorm.bias', bias(H))]
    for i in range(CFG['num_hidden_layers']):
        p = f'encoder.layer.{i}.'
        for n in ('query', 'key', 'value'):
            t += [(p + f'attention.self.{n}.weight', mat(H, H)), (p + f'attention.self.{n}.bias', bias(H))]
        t += [(p + 'attention.output.dense.weight', mat(H, H)), (p + 'attention.output.dense.bias', bias(H)),
              (p + 'attention.output.LayerNorm.weight', ln()), (p + 'attention.output.LayerNorm.bias', bias(H)),
              (p + 'intermediate.dense.weight', mat(I, H)), (p + 'intermediate.dense.bias', bias(I)),
              (p + 'output.dense.weight', mat(H, I)), (p + 'output.dense.bias', bias(H)),
              (p + 'output.LayerNorm.weight', ln()), (p + 'output.LayerNorm.bias', bias(H))]
    t += [('pooler.dense.weight', mat(H, H)), ('pooler.dense.bias', bias(H))]  # unused by pooling
    return t


def write_model():
    os.makedirs(os.path.join(OUT, '1_Pooling'), exist_ok=True)
    v = vocab()
    cfg = dict(architectures=['BertModel'], model_type='bert', vocab_size=len(v), hidden_act='gelu',
               hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02,
               pad_token_id=0, position_embedding_type='absolute', **CFG)
    dump = lambda name, obj: open(os.path.join(OUT, name), 'w').write(json.dumps(obj, indent=2, ensure_ascii=False) + '\n')
    dump('config.json', cfg)
    tok = {'version': '1.0', 'truncation': None, 'padding': None,
           'added_tokens': [dict(id=i, content=t, single_word=False, lstrip=False, rstrip=False,
                                 normalized=False, special=True) for i, t in enumerate(v[:5])],
           'normalizer': dict(type='BertNormalizer', clean_text=True, handle_chinese_chars=True,
                              strip_accents=None, lowercase=True),
           'pre_tokenizer': dict(type='BertPreTokenizer'),
           'post_processor': dict(type='TemplateProcessing',
                                  single=[{'SpecialToken': {'id': '[CLS]', 'type_id': 0}},
                                          {'Sequence': {'id': 'A', 'type_id': 0}},
                                          {'SpecialToken': {'id': '[SEP]', 'type_id': 0}}],
                                  pair=[{'SpecialToken': {'id': '[CLS]', 'type_id': 0}},
                                        {'Sequence': {'id': 'A', 'type_id': 0}},
                                        {'SpecialToken': {'id': '[SEP]', 'type_id': 0}},
                                        {'Sequence': {'id': 'B', 'type_id': 1}},
                                        {'SpecialToken': {'id': '[SEP]', 'type_id': 1}}],
                                  special_tokens={'[CLS]': {'id': '[CLS]', 'ids': [2], 'tokens': ['[CLS]']},
                                                  '[SEP]': {'id': '[SEP]', 'ids': [3], 'tokens': ['[SEP]']}}),
           'decoder': dict(type='WordPiece', prefix='##', cleanup=True),
           'model': dict(type='WordPiece', unk_token='[UNK]', continuing_subword_prefix='##',
                         max_input_chars_per_word=100, vocab={t: i for i, t in enumerate(v)})}
    dump('tokenizer.json', tok)
    dump('tokenizer_config.json', dict(do_lower_case=True, model_max_length=512, tokenizer_class='BertTokenizer'))
    dump('modules.json', [dict(idx=0, name='0', path='', type='sentence_transformers.models.Transformer'),
                          dict(idx=1, name='1', path='1_Pooling', type='sentence_transformers.models.Pooling'),
                          dict(idx=2, name='2', path='2_Normalize', type='sentence_transformers.models.Normalize')])
    dump('sentence_bert_config.json', dict(max_seq_length=MAX_SEQ, do_lower_case=False))
    dump('1_Pooling/config.json', dict(word_embedding_dimension=CFG['hidden_size'], pooling_mode_cls_token=False,
                                       pooling_mode_mean_tokens=True, pooling_mode_max_tokens=False,
                                       pooling_mode_mean_sqrt_len_tokens=False))
    st_write(os.path.join(OUT, 'model.safetensors'), weights(len(v)))


def st_read(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: np.frombuffer(data[m['data_offsets'][0]:m['data_offsets'][1]], dtype='<f4').reshape(m['shape'])
            .astype(np.float64) for k, m in header.items() if k != '__metadata__'}


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def forward(W, ids):
    """BertModel's last hidden state for one unpadded sequence, in float64."""
    H, nh, eps = CFG['hidden_size'], CFG['num_attention_heads'], CFG['layer_norm_eps']
    hd = H // nh
    T = len(ids)
    x = W['embeddings.word_embeddings.weight'][ids] + W['embeddings.position_embeddings.weight'][:T] + \
        W['embeddings.token_type_embeddings.weight'][0]
    x = layer_norm(x, W['embeddings.LayerNorm.weight'], W['embeddings.LayerNorm.bias'], eps)
    gelu = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))
    for i in range(CFG['num_hidden_layers']):
        p = f'encoder.layer.{i}.'
        lin = lambda n, t: t @ W[p + n + '.weight'].T + W[p + n + '.bias']
        q, k, v = (lin('attention.self.' + n, x).reshape(T, nh, hd).transpose(1, 0, 2) for n in ('query', 'key', 'value'))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(T, H)
        x = layer_norm(lin('attention.output.dense', a) + x, W[p + 'attention.output.LayerNorm.weight'],
                       W[p + 'attention.output.LayerNorm.bias'], eps)
        h = gelu(lin('intermediate.dense', x))
        x = layer_norm(lin('output.dense', h) + x, W[p + 'output.LayerNorm.weight'], W[p + 'output.LayerNorm.bias'], eps)
    return x


def expect():
    W = st_read(os.path.join(OUT, 'model.safetensors'))
    cases = json.load(open(os.path.join(HERE, 'wordpiece_expected.json'), encoding='utf-8'))
    out = []
    for c in cases:
        ids = c['ids'][:MAX_SEQ]
        if len(c['ids']) > MAX_SEQ:
            ids[-1] = 3  # sentence-transformers truncates and keeps [SEP] last
        h = forward(W, ids)
        mean = h.mean(0)
        out.append(dict(text=c['text'], ids=ids, mean_normalized=list(mean / np.linalg.norm(mean)),
                        mean=list(mean), cls=list(h[0])))
    with open(os.path.join(HERE, 'embeddings_expected.json'), 'w', encoding='utf-8') as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write('\n')


if __name__ == '__main__':
    {'model': write_model, 'expect': expect}[sys.argv[1]]()
