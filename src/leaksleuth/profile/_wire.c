/* The hot loops of reading a pprof profile, in C: finding the top-level fields, decoding the
 * samples of a batch into columns, folding samples into per-function totals, hashing stacks
 * and building a flame tree. Everything else (tables, names, errors with their messages) is
 * Python (profile/decode.py), which also holds the per-message reference decoder that this
 * must agree with (tests/test_parse_fuzz.py).
 *
 * Only the buffer protocol is used (no numpy headers): Python passes contiguous numpy arrays
 * and preallocated outputs. The GIL is released inside every loop.
 *
 * Anything the fast sample decoder does not accept (a malformed or unusual sample) makes it
 * return -1; the caller then decodes with the reference decoder, which names the problem.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
} Bytes;

/* one varint at *pos (< end): 0 ok, 1 truncated, 2 longer than 10 bytes, 3 overflow */
static inline int varint(const uint8_t *b, Py_ssize_t end, Py_ssize_t *pos, uint64_t *out) {
    Py_ssize_t i = *pos;
    if (i >= end) return 1;
    uint8_t c = b[i++];
    if (c < 0x80) { *pos = i; *out = c; return 0; }
    uint64_t r = c & 0x7F;
    int shift = 7;
    for (;;) {
        if (i >= end) return 1;
        c = b[i++];
        if (shift == 63) { /* the tenth byte: one more bit at most */
            if (c >= 0x80) return 2;
            if (c > 1) return 3;
            *pos = i;
            *out = r | ((uint64_t)c << 63);
            return 0;
        }
        r |= (uint64_t)(c & 0x7F) << shift;
        if (c < 0x80) { *pos = i; *out = r; return 0; }
        shift += 7;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* scan(buf) -> (samples: bytes of int64 (head, body_a, body_b) triples,
 *               others: bytes of int64 (fno, wt, a, b) rows, error: str or None)
 * For varint fields a is the value (as int64 bits) and b is 0. Rows stop at the first wire
 * error, whose message is returned (the caller checks the rows in order first). */

typedef struct {
    int64_t *d;
    size_t n, cap;
} Vec;

static int vec_push(Vec *v, int64_t a, int64_t b, int64_t c, int64_t d, int k) {
    if (v->n + (size_t)k > v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4096;
        while (cap < v->n + (size_t)k) cap *= 2;
        int64_t *nd = realloc(v->d, cap * sizeof(int64_t));
        if (!nd) return -1;
        v->d = nd;
        v->cap = cap;
    }
    v->d[v->n++] = a;
    v->d[v->n++] = b;
    v->d[v->n++] = c;
    if (k == 4) v->d[v->n++] = d;
    return 0;
}

static int skip_field(const uint8_t *b, Py_ssize_t e, Py_ssize_t *pos, int wt);

static const char *VARINT_ERR[] = {"", "truncated varint", "varint longer than 10 bytes",
                                   "varint overflows 64 bits"};

static PyObject *w_scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const uint8_t *b = view.buf;
    Py_ssize_t n = view.len, pos = 0;
    Vec smp = {0}, oth = {0};
    char err[128] = "";
    int oom = 0;
    Py_BEGIN_ALLOW_THREADS
    while (pos < n) {
        Py_ssize_t head = pos;
        uint64_t tag, v;
        int rc;
        if (b[pos] == 0x12 && pos + 1 < n && b[pos + 1] < 0x80) { /* the bulk: a sample */
            Py_ssize_t a = pos + 2, e = a + b[pos + 1];
            if (e > n) { /* as the reference: it notices only at the end */
                snprintf(err, sizeof err, "the last field runs past the end of the data");
                break;
            }
            if (vec_push(&smp, head, a, e, 0, 3)) { oom = 1; break; }
            pos = e;
            continue;
        }
        if ((rc = varint(b, n, &pos, &tag))) { snprintf(err, sizeof err, "%s", VARINT_ERR[rc]); break; }
        uint64_t fno = tag >> 3;
        int wt = (int)(tag & 7);
        if (fno == 0) { snprintf(err, sizeof err, "field number 0"); break; }
        if (wt == 0) {
            if ((rc = varint(b, n, &pos, &v))) { snprintf(err, sizeof err, "%s", VARINT_ERR[rc]); break; }
            if (vec_push(&oth, (int64_t)fno, 0, (int64_t)v, 0, 4)) { oom = 1; break; }
            continue;
        }
        if (wt == 2) {
            if ((rc = varint(b, n, &pos, &v))) { snprintf(err, sizeof err, "%s", VARINT_ERR[rc]); break; }
            if (v > (uint64_t)(n - pos)) {
                snprintf(err, sizeof err, "field %llu runs past the end of the data",
                         (unsigned long long)fno);
                break;
            }
            Py_ssize_t a = pos, e = pos + (Py_ssize_t)v;
            pos = e;
            if (fno == 2) {
                if (vec_push(&smp, head, a, e, 0, 3)) { oom = 1; break; }
            } else if (vec_push(&oth, (int64_t)fno, 2, a, e, 4)) { oom = 1; break; }
            continue;
        }
        if (wt == 1 || wt == 5) {
            Py_ssize_t a = pos;
            pos += wt == 1 ? 8 : 4;
            if (pos > n) {
                /* the reference checks the wire type of fields 1-15 only after this */
                snprintf(err, sizeof err, "truncated fixed-width field");
                break;
            }
            if (vec_push(&oth, (int64_t)fno, wt, a, pos, 4)) { oom = 1; break; }
            continue;
        }
        snprintf(err, sizeof err, "unsupported wire type %d (field %llu)", wt,
                 (unsigned long long)fno);
        break;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (oom) {
        free(smp.d);
        free(oth.d);
        return PyErr_NoMemory();
    }
    PyObject *s = PyBytes_FromStringAndSize((const char *)smp.d, (Py_ssize_t)(smp.n * 8));
    PyObject *o = PyBytes_FromStringAndSize((const char *)oth.d, (Py_ssize_t)(oth.n * 8));
    free(smp.d);
    free(oth.d);
    if (!s || !o) {
        Py_XDECREF(s);
        Py_XDECREF(o);
        return NULL;
    }
    if (err[0]) return Py_BuildValue("(NNs)", s, o, err);
    return Py_BuildValue("(NNO)", s, o, Py_None);
}

/* ------------------------------------------------------------------------------------------ */
/* decode(buf, body_a, body_b, ntypes, lut|None, loc_out, val_out, counts_out, lab_out)
 *   -> (locations written, labels written), or -1 for anything the reference must decode.
 * lab_out: int64 of shape (5, cap): sample, key, str, num, unit. Location ids are mapped
 * through lut (ids past its end take its last slot); lut None: ids as written. */

static PyObject *w_decode(PyObject *self, PyObject *args) {
    Py_buffer vb, va, vbb, vlut, vloc, vval, vcnt, vlab;
    int ntypes;
    PyObject *lutobj;
    memset(&vlut, 0, sizeof vlut);
    if (!PyArg_ParseTuple(args, "y*y*y*iOw*w*w*w*", &vb, &va, &vbb, &ntypes, &lutobj, &vloc,
                          &vval, &vcnt, &vlab))
        return NULL;
    int has_lut = lutobj != Py_None;
    if (has_lut && PyObject_GetBuffer(lutobj, &vlut, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&vb); PyBuffer_Release(&va); PyBuffer_Release(&vbb);
        PyBuffer_Release(&vloc); PyBuffer_Release(&vval); PyBuffer_Release(&vcnt);
        PyBuffer_Release(&vlab);
        return NULL;
    }
    const uint8_t *b = vb.buf;
    const int64_t *A = va.buf, *B = vbb.buf;
    Py_ssize_t ns = va.len / 8;
    const int64_t *lut = has_lut ? vlut.buf : NULL;
    uint64_t nlut = has_lut ? (uint64_t)(vlut.len / 8) : 0;
    int64_t *loc = vloc.buf, *val = vval.buf, *cnt = vcnt.buf, *lab = vlab.buf;
    Py_ssize_t loc_cap = vloc.len / 8, lab_cap = vlab.len / 40;
    Py_ssize_t nloc = 0, nlab = 0;
    /* outputs too small for what the caller said (or an empty lookup table): not for us */
    int bad = (has_lut && nlut == 0) || ntypes < 0 || vbb.len != va.len
              || vval.len < ns * ntypes * 8 || vcnt.len < ns * 8;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < ns && !bad; i++) {
        Py_ssize_t pos = A[i], end = B[i];
        if (pos < 0 || pos > end || end > vb.len) { bad = 1; break; }
        Py_ssize_t nl0 = nloc;
        int nv = 0;
        int64_t *vrow = val + (size_t)i * ntypes;
        while (pos < end) {
            uint64_t tag, x;
            if (varint(b, end, &pos, &tag)) { bad = 1; break; }
            uint64_t fno = tag >> 3;
            int wt = (int)(tag & 7);
            if (fno == 0) { bad = 1; break; }
            if (wt == 2) {
                if (varint(b, end, &pos, &x) || x > (uint64_t)(end - pos)) { bad = 1; break; }
                Py_ssize_t e = pos + (Py_ssize_t)x;
                if (fno == 1) {
                    while (pos < e) {
                        if (varint(b, e, &pos, &x) || nloc >= loc_cap) { bad = 1; break; }
                        if (has_lut) x = (uint64_t)lut[x < nlut - 1 ? x : nlut - 1];
                        loc[nloc++] = (int64_t)x;
                    }
                } else if (fno == 2) {
                    while (pos < e) {
                        if (varint(b, e, &pos, &x) || nv >= ntypes) { bad = 1; break; }
                        vrow[nv++] = (int64_t)x;
                    }
                } else if (fno == 3) {
                    uint64_t f[5] = {0, 0, 0, 0, 0};
                    while (pos < e) {
                        uint64_t t2, y;
                        if (varint(b, e, &pos, &t2)) { bad = 1; break; }
                        uint64_t f2 = t2 >> 3;
                        int w2 = (int)(t2 & 7);
                        if (f2 == 0) { bad = 1; break; }
                        if (w2 == 0) {
                            if (varint(b, e, &pos, &y)) { bad = 1; break; }
                            if (f2 <= 4) f[f2] = y;
                        } else if (f2 <= 4) {
                            bad = 1;
                            break;
                        } else if (w2 == 2) {
                            if (varint(b, e, &pos, &y) || y > (uint64_t)(e - pos)) { bad = 1; break; }
                            pos += (Py_ssize_t)y;
                        } else if (w2 == 1 || w2 == 5) {
                            pos += w2 == 1 ? 8 : 4;
                            if (pos > e) { bad = 1; break; }
                        } else { bad = 1; break; }
                    }
                    if (bad || nlab >= lab_cap) { bad = 1; break; }
                    lab[nlab] = i;
                    for (int k = 1; k <= 4; k++) lab[(size_t)k * lab_cap + nlab] = (int64_t)f[k];
                    nlab++;
                }
                pos = e;
                if (bad) break;
            } else if (wt == 0) {
                if (varint(b, end, &pos, &x)) { bad = 1; break; }
                if (fno == 1) {
                    if (nloc >= loc_cap) { bad = 1; break; }
                    if (has_lut) x = (uint64_t)lut[x < nlut - 1 ? x : nlut - 1];
                    loc[nloc++] = (int64_t)x;
                } else if (fno == 2) {
                    if (nv >= ntypes) { bad = 1; break; }
                    vrow[nv++] = (int64_t)x;
                } else if (fno == 3) { bad = 1; break; }
            } else if ((wt == 1 || wt == 5) && fno > 3) {
                pos += wt == 1 ? 8 : 4;
                if (pos > end) { bad = 1; break; }
            } else { bad = 1; break; }
        }
        if (bad || pos != end || nv != ntypes) { bad = 1; break; }
        cnt[i] = nloc - nl0;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&vb); PyBuffer_Release(&va); PyBuffer_Release(&vbb);
    PyBuffer_Release(&vloc); PyBuffer_Release(&vval); PyBuffer_Release(&vcnt);
    PyBuffer_Release(&vlab);
    if (has_lut) PyBuffer_Release(&vlut);
    if (bad) return PyLong_FromLong(-1);
    return Py_BuildValue("(nn)", nloc, nlab);
}

/* ------------------------------------------------------------------------------------------ */
/* fold(stack_locations, offsets, values, first_node, loc_off, loc_nodes, stamp,
 *      flat_out, cum_out, present_out)
 * flat: the value of each sample to the first node of its first (leaf) location; cum: to
 * every node on the stack once per sample; present: the node is on a nonzero-valued stack.
 * stamp (int64, one per node, initially -1) remembers the last sample that counted a node. */

static PyObject *w_fold(PyObject *self, PyObject *args) {
    Py_buffer vs, vo, vv, vf, vlo, vln, vst, vfl, vcu, vpr;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*w*w*w*", &vs, &vo, &vv, &vf, &vlo, &vln, &vst,
                          &vfl, &vcu, &vpr))
        return NULL;
    const int64_t *sl = vs.buf, *off = vo.buf, *v = vv.buf, *first = vf.buf, *lo = vlo.buf,
                  *ln = vln.buf;
    int64_t *stamp = vst.buf, *flat = vfl.buf, *cum = vcu.buf;
    uint8_t *present = vpr.buf;
    Py_ssize_t ns = vv.len / 8, nloc_ids = vf.len / 8, nn = vfl.len / 8;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < ns && !bad; i++) {
        int64_t a = off[i], e = off[i + 1], w = v[i];
        if (a == e) continue;
        for (int64_t j = a; j < e; j++) {
            int64_t l = sl[j];
            if (l < 0 || l >= nloc_ids) { bad = 1; break; }
            for (int64_t k = lo[l]; k < lo[l + 1]; k++) {
                int64_t node = ln[k];
                if (stamp[node] != i) {
                    stamp[node] = i;
                    cum[node] += w;
                    if (w) present[node] = 1;
                }
            }
        }
        if (!bad) {
            int64_t f = first[sl[a]];
            if (f >= 0 && f < nn) flat[f] += w;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&vs); PyBuffer_Release(&vo); PyBuffer_Release(&vv); PyBuffer_Release(&vf);
    PyBuffer_Release(&vlo); PyBuffer_Release(&vln); PyBuffer_Release(&vst);
    PyBuffer_Release(&vfl); PyBuffer_Release(&vcu); PyBuffer_Release(&vpr);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "location id out of range");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* trie(offsets, stack_locations, loc_start, loc_len, loc_names, values, early, cur_out)
 *   -> (parent: bytes of int64, name: bytes of int64, level_ends: bytes of int64 pairs)
 * The flame tree of the stacks, one depth level at a time. A stack lists locations leaf
 * first and a location's names are loc_names[loc_start[l]:loc_start[l] + loc_len[l]],
 * innermost first: a sample's frames root first are its locations from the last and each
 * location's names from the last. Node 0 is the root; each level's nodes get consecutive
 * ids, so a parent's id is below its children's. cur_out receives the deepest node of each
 * sample. early > 0: a sample stops descending below a node whose total (summed as float64
 * in sample order) is under early.
 *
 * trie_wire(buf, loc_a, loc_b, unpacked, lut, loc_start, loc_len, loc_names, values, early,
 * cur_out) is the same tree with each sample's stack read where it lies in the protobuf
 * bytes (the location ids buf[loc_a[i]:loc_b[i]] as spans() found and checked them, mapped
 * through lut): the stacks are never decoded into an array. A walk stops where the tree is pruned, so most
 * location ids are never decoded at all. */

typedef struct {
    int64_t parent, name, id;
} Slot;

/* Where the stacks are: decoded (offs/stack, a cursor is an index into stack) or in the
 * protobuf bytes (buf/la/lb/lut, a cursor is the position of a location id's varint). */
typedef struct {
    const int64_t *offs, *stack;
    const uint8_t *buf;
    const int64_t *la, *lb, *lut;
    const uint8_t *unp; /* per sample: 1 when its ids are unpacked fields (a tag byte each) */
    int64_t nlut;
    const int64_t *llen;
} Src;

/* the first cursor of sample s (past its last frame when below src_lo) */
static inline int64_t src_lo(const Src *S, int64_t s) { return S->buf ? S->la[s] : S->offs[s]; }

/* the location id at cursor l */
static inline int64_t src_loc(const Src *S, int64_t l) {
    if (!S->buf) return S->stack[l];
    const uint8_t *b = S->buf + l;
    uint64_t x = b[0] & 0x7F;
    for (int sh = 7; b[0] & 0x80; sh += 7) x |= (uint64_t)((++b)[0] & 0x7F) << sh;
    return S->lut[x < (uint64_t)S->nlut - 1 ? x : (uint64_t)S->nlut - 1];
}

/* the start of the varint that ends just before e, in a run from lo: a varint's last byte is
 * < 0x80 and its others are not (lo - 1 when e <= lo) */
static inline int64_t varint_before(const uint8_t *b, int64_t lo, int64_t e) {
    if (e <= lo) return lo - 1;
    int64_t p = e - 1;
    while (p > lo && b[p - 1] >= 0x80) p--;
    return p;
}

/* the cursor before l (towards the leaf) in sample s (an unpacked id's tag byte skipped) */
static inline int64_t src_prev(const Src *S, int64_t s, int64_t l) {
    if (!S->buf) return l - 1;
    return l <= S->la[s] ? S->la[s] - 1 : varint_before(S->buf, S->la[s], l - S->unp[s]);
}

/* the cursor of the last (root) location of sample s */
static inline int64_t src_last(const Src *S, int64_t s) {
    return S->buf ? varint_before(S->buf, S->la[s], S->lb[s]) : S->offs[s + 1] - 1;
}

/* The next frame of sample s, root first, at its cursor (*l, *ln); l < src_lo: no more. */
static inline void next_frame(const Src *S, int64_t s, int64_t *l, int64_t *ln) {
    if (--*ln >= 0) return;
    int64_t lo = src_lo(S, s), j = src_prev(S, s, *l);
    while (j >= lo && S->llen[src_loc(S, j)] == 0) j = src_prev(S, s, j);
    *l = j;
    if (j >= lo) *ln = S->llen[src_loc(S, j)] - 1;
}

/* The frames of PRE levels at a time are gathered level-major for the samples still walking
 * (before levels 0, PRE, 2 PRE, ...): a level then reads one sequential array instead of a
 * cache line of every sample's stack, and a walk that stops early (pruning) decodes at most
 * PRE - 1 frames it does not use. */
#define PRE 8

/* gather up to PRE names of sample s from its cursor (*l, *ln) into pre (level-major) */
static inline int gather(const Src *S, int64_t s, int64_t *l, int64_t *ln,
                         const int64_t *lstart, const int64_t *lnames, int32_t *pre,
                         size_t nn) {
    int64_t lo = src_lo(S, s);
    int k = 0;
    for (; k < PRE && *l >= lo; k++) {
        pre[(size_t)k * nn + (size_t)s] = (int32_t)lnames[lstart[src_loc(S, *l)] + *ln];
        next_frame(S, s, l, ln);
    }
    return k;
}

static PyObject *build_trie(const Src *S, Py_ssize_t n, const int64_t *lstart,
                            const int64_t *lnames, const int64_t *val, double early,
                            int64_t *cur) {
    const int64_t *llen = S->llen;
    size_t nn = (size_t)(n ? n : 1);
    Vec par = {0}, nam = {0}, lev = {0};
    /* active samples; per sample: the cursor of its next frame past the gathered ones, how
     * many were gathered, and the gathered names (level-major) */
    int64_t *active = malloc(nn * sizeof(int64_t));
    int64_t *at_loc = malloc(nn * sizeof(int64_t));
    int64_t *at_line = malloc(nn * sizeof(int64_t));
    uint8_t *npre = malloc(nn);
    int32_t *pre = malloc(nn * PRE * sizeof(int32_t)); /* name ids: the caller checks < 2^31 */
    double *tot = NULL;
    size_t tot_cap = 0;
    Slot *table = NULL;
    size_t tcap = 0;
    int oom = !active || !at_loc || !at_line || !npre || !pre;
    Py_BEGIN_ALLOW_THREADS
    int64_t next_id = 1, na = 0;
    if (!oom) {
        par.d = malloc(sizeof(int64_t) * 1024); nam.d = malloc(sizeof(int64_t) * 1024);
        lev.d = malloc(sizeof(int64_t) * 1024);
        par.cap = nam.cap = lev.cap = 1024;
        oom = !par.d || !nam.d || !lev.d;
    }
    if (!oom) {
        par.d[par.n++] = 0;
        nam.d[nam.n++] = -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            cur[i] = 0;
            int64_t lo = src_lo(S, i), l = src_last(S, i), ln = 0;
            while (l >= lo && llen[src_loc(S, l)] == 0) l = src_prev(S, i, l);
            if (l >= lo) ln = llen[src_loc(S, l)] - 1;
            int k = gather(S, i, &l, &ln, lstart, lnames, pre, nn);
            npre[i] = (uint8_t)k;
            at_loc[i] = l;
            at_line[i] = ln;
            if (k) active[na++] = i;
        }
    }
    for (int64_t d = 0; !oom && na; d++) {
        /* a table per level, sized by the nodes it holds (not by the samples: the levels
         * near the root have a million samples and a handful of nodes) */
        size_t need = 1024, used = 0;
        if (need > tcap) {
            free(table);
            table = malloc(need * sizeof(Slot));
            if (!table) { oom = 1; break; }
            tcap = need;
        }
        memset(table, 0xff, need * sizeof(Slot)); /* id -1: empty */
        size_t mask = need - 1;
        int64_t first = next_id;
        if (d && d % PRE == 0) /* the next PRE levels of the samples still walking */
            for (int64_t j = 0; j < na; j++) {
                int64_t s = active[j];
                npre[s] = (uint8_t)gather(S, s, &at_loc[s], &at_line[s], lstart, lnames, pre, nn);
            }
        const int32_t *pre_d = pre + (size_t)(d % PRE) * nn;
        for (int64_t j = 0; j < na; j++) {
            int64_t s = active[j];
            int64_t nm = pre_d[s];
            int64_t p = cur[s];
            uint64_t h = (uint64_t)p * 0x9E3779B97F4A7C15ULL ^ (uint64_t)nm * 0xC2B2AE3D27D4EB4FULL;
            h ^= h >> 29;
            size_t at = (size_t)h & mask;
            while (table[at].id >= 0 && (table[at].parent != p || table[at].name != nm))
                at = (at + 1) & mask;
            if (table[at].id < 0) {
                if (2 * (used + 1) > need) { /* grow: rehash every node of this level */
                    size_t n2 = need * 2;
                    Slot *t2 = malloc(n2 * sizeof(Slot));
                    if (!t2) { oom = 1; break; }
                    memset(t2, 0xff, n2 * sizeof(Slot));
                    for (size_t q = 0; q < need; q++) {
                        if (table[q].id < 0) continue;
                        uint64_t h2 = (uint64_t)table[q].parent * 0x9E3779B97F4A7C15ULL ^
                                      (uint64_t)table[q].name * 0xC2B2AE3D27D4EB4FULL;
                        h2 ^= h2 >> 29;
                        size_t a2 = (size_t)h2 & (n2 - 1);
                        while (t2[a2].id >= 0) a2 = (a2 + 1) & (n2 - 1);
                        t2[a2] = table[q];
                    }
                    free(table);
                    table = t2;
                    need = tcap = n2;
                    mask = need - 1;
                    at = (size_t)h & mask;
                    while (table[at].id >= 0) at = (at + 1) & mask;
                }
                used++;
                table[at].parent = p;
                table[at].name = nm;
                table[at].id = next_id++;
                if (par.n + 1 > par.cap) {
                    size_t c = par.cap * 2;
                    int64_t *a = realloc(par.d, c * 8), *b = realloc(nam.d, c * 8);
                    if (a) par.d = a;
                    if (b) nam.d = b;
                    if (!a || !b) { oom = 1; break; }
                    par.cap = nam.cap = c;
                }
                par.d[par.n++] = p;
                nam.d[nam.n++] = nm;
            }
            cur[s] = table[at].id;
        }
        if (oom) break;
        if (lev.n + 2 > lev.cap) {
            int64_t *a = realloc(lev.d, lev.cap * 2 * 8);
            if (!a) { oom = 1; break; }
            lev.d = a;
            lev.cap *= 2;
        }
        lev.d[lev.n++] = first;
        lev.d[lev.n++] = next_id;
        if (early > 0) {
            size_t m = (size_t)(next_id - first);
            if (m > tot_cap) {
                free(tot);
                tot = malloc(m * sizeof(double));
                if (!tot) { oom = 1; break; }
                tot_cap = m;
            }
            memset(tot, 0, m * sizeof(double));
            for (int64_t j = 0; j < na; j++) tot[cur[active[j]] - first] += (double)val[active[j]];
        }
        /* the samples with a frame at the next level, unless their node is too small */
        int64_t k = 0;
        for (int64_t j = 0; j < na; j++) {
            int64_t s = active[j];
            if (early > 0 && tot[cur[s] - first] < early) continue;
            int more = (d + 1) % PRE ? (d + 1) % PRE < npre[s] : at_loc[s] >= src_lo(S, s);
            if (more) active[k++] = s;
        }
        na = k;
    }
    Py_END_ALLOW_THREADS
    free(active); free(at_loc); free(at_line); free(npre); free(pre); free(tot); free(table);
    if (oom) {
        free(par.d); free(nam.d); free(lev.d);
        return PyErr_NoMemory();
    }
    PyObject *a = PyBytes_FromStringAndSize((const char *)par.d, (Py_ssize_t)(par.n * 8));
    PyObject *b = PyBytes_FromStringAndSize((const char *)nam.d, (Py_ssize_t)(nam.n * 8));
    PyObject *c = PyBytes_FromStringAndSize((const char *)lev.d, (Py_ssize_t)(lev.n * 8));
    free(par.d); free(nam.d); free(lev.d);
    if (!a || !b || !c) {
        Py_XDECREF(a); Py_XDECREF(b); Py_XDECREF(c);
        return NULL;
    }
    return Py_BuildValue("(NNN)", a, b, c);
}

static PyObject *w_trie(PyObject *self, PyObject *args) {
    Py_buffer vo, vs, vls, vll, vln, vv, vc;
    double early;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*dw*", &vo, &vs, &vls, &vll, &vln, &vv, &early,
                          &vc))
        return NULL;
    Src S = {vo.buf, vs.buf, NULL, NULL, NULL, NULL, NULL, 0, vll.buf};
    PyObject *r = build_trie(&S, vv.len / 8, vls.buf, vln.buf, vv.buf, early, vc.buf);
    PyBuffer_Release(&vo); PyBuffer_Release(&vs); PyBuffer_Release(&vls);
    PyBuffer_Release(&vll); PyBuffer_Release(&vln); PyBuffer_Release(&vv);
    PyBuffer_Release(&vc);
    return r;
}

static PyObject *w_trie_wire(PyObject *self, PyObject *args) {
    Py_buffer vb, va, vbb, vu, vlut, vls, vll, vln, vv, vc;
    double early;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*dw*", &vb, &va, &vbb, &vu, &vlut, &vls, &vll,
                          &vln, &vv, &early, &vc))
        return NULL;
    Src S = {NULL, NULL, vb.buf, va.buf, vbb.buf, vlut.buf, vu.buf, vlut.len / 8, vll.buf};
    PyObject *r = NULL;
    if (vlut.len >= 8 && va.len == vv.len && vbb.len == vv.len && vc.len >= vv.len
        && vu.len * 8 == vv.len)
        r = build_trie(&S, vv.len / 8, vls.buf, vln.buf, vv.buf, early, vc.buf);
    else
        PyErr_SetString(PyExc_ValueError, "trie_wire: arrays of different lengths");
    PyBuffer_Release(&vb); PyBuffer_Release(&va); PyBuffer_Release(&vbb); PyBuffer_Release(&vu);
    PyBuffer_Release(&vlut); PyBuffer_Release(&vls); PyBuffer_Release(&vll);
    PyBuffer_Release(&vln); PyBuffer_Release(&vv); PyBuffer_Release(&vc);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* spans(buf, body_a, body_b, ntypes, lut, nloc, nstr, val_out, loc_a_out, loc_b_out,
 *       unpacked_out) -> 0, -1 (an encoding not taken here) or -2 (a location id not in lut,
 * or a label's string index past nstr: the whole-file reader names it).
 * Per sample: its values (val_out, ntypes each) and where its location ids lie (loc_a/loc_b;
 * equal when it has none): one packed run, or (unpacked_out 1) a run of adjacent one-id
 * fields, each a tag byte and a varint, as Go writes two ids or fewer (and values). Every id is checked
 * against lut (an id past its end: the last slot; 0 or above nloc: dangling) and every label
 * as decode() checks it. */

static PyObject *w_spans(PyObject *self, PyObject *args) {
    Py_buffer vb, va, vbb, vlut, vval, vla, vlb, vu;
    int ntypes;
    long long nloc, nstr;
    if (!PyArg_ParseTuple(args, "y*y*y*iy*LLw*w*w*w*", &vb, &va, &vbb, &ntypes, &vlut, &nloc,
                          &nstr, &vval, &vla, &vlb, &vu))
        return NULL;
    const uint8_t *b = vb.buf;
    const int64_t *A = va.buf, *B = vbb.buf, *lut = vlut.buf;
    uint64_t nlut = (uint64_t)(vlut.len / 8);
    int64_t *val = vval.buf, *la = vla.buf, *lb = vlb.buf;
    uint8_t *unp = vu.buf;
    Py_ssize_t ns = va.len / 8;
    int bad = nlut == 0 || ntypes < 0 || vbb.len != va.len || vval.len < ns * ntypes * 8
              || vla.len < ns * 8 || vlb.len < ns * 8 || vu.len < ns ? -1 : 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < ns && !bad; i++) {
        Py_ssize_t pos = A[i], end = B[i];
        if (pos < 0 || pos > end || end > vb.len) { bad = -1; break; }
        int nv = 0, seen = 0; /* location ids: 1 a packed run, 2 unpacked */
        int64_t *vrow = val + (size_t)i * ntypes;
        la[i] = lb[i] = pos;
        unp[i] = 0;
        while (pos < end && !bad) {
            uint64_t tag, x;
            Py_ssize_t at = pos;
            if (varint(b, end, &pos, &tag)) { bad = -1; break; }
            uint64_t fno = tag >> 3;
            int wt = (int)(tag & 7);
            if (fno == 0) { bad = -1; break; }
            if (wt == 2) {
                if (varint(b, end, &pos, &x) || x > (uint64_t)(end - pos)) { bad = -1; break; }
                Py_ssize_t e = pos + (Py_ssize_t)x;
                if (fno == 1) {
                    if (seen++) { bad = -1; break; } /* two runs: not one span */
                    la[i] = pos;
                    lb[i] = e;
                    while (pos < e) {
                        if (varint(b, e, &pos, &x)) { bad = -1; break; }
                        int64_t l = lut[x < nlut - 1 ? x : nlut - 1];
                        if (l <= 0 || l > nloc) bad = -2;
                    }
                } else if (fno == 2) {
                    while (pos < e) {
                        if (varint(b, e, &pos, &x) || nv >= ntypes) { bad = -1; break; }
                        vrow[nv++] = (int64_t)x;
                    }
                } else if (fno == 3) {
                    while (pos < e) {
                        uint64_t t2, y;
                        if (varint(b, e, &pos, &t2)) { bad = -1; break; }
                        uint64_t f2 = t2 >> 3;
                        int w2 = (int)(t2 & 7);
                        if (f2 == 0) { bad = -1; break; }
                        if (w2 == 0) {
                            if (varint(b, e, &pos, &y)) { bad = -1; break; }
                            if ((f2 == 1 || f2 == 2 || f2 == 4) && y >= (uint64_t)nstr) bad = -2;
                        } else if (f2 <= 4 || skip_field(b, e, &pos, w2)) {
                            bad = -1;
                            break;
                        }
                    }
                }
                pos = e;
            } else if (wt == 0) {
                if (fno == 1) { /* the run must go on where it stopped, tags of one byte */
                    if (seen == 1 || (seen == 2 && at != lb[i]) || pos != at + 1) { bad = -1; break; }
                    if (!seen) la[i] = pos;
                    seen = 2;
                    unp[i] = 1;
                }
                if (varint(b, end, &pos, &x)) { bad = -1; break; }
                if (fno == 1) {
                    lb[i] = pos;
                    int64_t l = lut[x < nlut - 1 ? x : nlut - 1];
                    if (l <= 0 || l > nloc) bad = -2;
                } else if (fno == 2) { /* Go writes two values or fewer unpacked */
                    if (nv >= ntypes) { bad = -1; break; }
                    vrow[nv++] = (int64_t)x;
                } else if (fno == 3) { bad = -1; break; }
            } else if ((wt == 1 || wt == 5) && fno > 3) {
                pos += wt == 1 ? 8 : 4;
                if (pos > end) { bad = -1; break; }
            } else { bad = -1; break; }
        }
        if (!bad && (pos != end || nv != ntypes)) bad = -1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&vb); PyBuffer_Release(&va); PyBuffer_Release(&vbb);
    PyBuffer_Release(&vlut); PyBuffer_Release(&vval); PyBuffer_Release(&vla);
    PyBuffer_Release(&vlb); PyBuffer_Release(&vu);
    return PyLong_FromLong(bad);
}

/* ------------------------------------------------------------------------------------------ */
/* The small messages: varint fields 1..nf of b[a:e] into out[1..nf] (0 when absent, the last
 * occurrence wins, other fields skipped); -1 for anything the reference decoder must name. */

static int skip_field(const uint8_t *b, Py_ssize_t e, Py_ssize_t *pos, int wt) {
    uint64_t x;
    if (wt == 0) return varint(b, e, pos, &x) ? -1 : 0;
    if (wt == 2) {
        if (varint(b, e, pos, &x) || x > (uint64_t)(e - *pos)) return -1;
        *pos += (Py_ssize_t)x;
        return 0;
    }
    if (wt == 1 || wt == 5) {
        *pos += wt == 1 ? 8 : 4;
        return *pos > e ? -1 : 0;
    }
    return -1;
}

static int msg_varints(const uint8_t *b, Py_ssize_t a, Py_ssize_t e, int nf, uint64_t *out) {
    Py_ssize_t pos = a;
    for (int k = 0; k <= nf; k++) out[k] = 0;
    while (pos < e) {
        uint64_t tag;
        if (varint(b, e, &pos, &tag)) return -1;
        uint64_t f = tag >> 3;
        int wt = (int)(tag & 7);
        if (f == 0) return -1;
        if (f <= (uint64_t)nf) {
            if (wt != 0 || varint(b, e, &pos, &out[f])) return -1;
        } else if (skip_field(b, e, &pos, wt)) return -1;
    }
    return pos == e ? 0 : -1;
}

/* messages(buf, spans, nf, out) -> 0, or -1: spans int64 (k, 2); out uint64 (k, nf + 1) */
static PyObject *w_messages(PyObject *self, PyObject *args) {
    Py_buffer vb, vs, vo;
    int nf;
    if (!PyArg_ParseTuple(args, "y*y*iw*", &vb, &vs, &nf, &vo)) return NULL;
    const int64_t *sp = vs.buf;
    uint64_t *out = vo.buf;
    Py_ssize_t k = vs.len / 16;
    int bad = nf < 1 || vo.len < k * (nf + 1) * 8;
    for (Py_ssize_t i = 0; i < k && !bad; i++)
        bad = msg_varints(vb.buf, sp[2 * i], sp[2 * i + 1], nf, out + i * (nf + 1)) != 0;
    PyBuffer_Release(&vb); PyBuffer_Release(&vs); PyBuffer_Release(&vo);
    return PyLong_FromLong(bad ? -1 : 0);
}

/* locations(buf, spans, loc_out, lines_out) -> lines written, or -1.
 * loc_out uint64 (k, 5): id, mapping id, address, is_folded, number of lines;
 * lines_out uint64 (cap, 3): function id, line, column. */
static PyObject *w_locations(PyObject *self, PyObject *args) {
    Py_buffer vb, vs, vl, vn;
    if (!PyArg_ParseTuple(args, "y*y*w*w*", &vb, &vs, &vl, &vn)) return NULL;
    const uint8_t *b = vb.buf;
    const int64_t *sp = vs.buf;
    uint64_t *lo = vl.buf, *ln = vn.buf;
    Py_ssize_t k = vs.len / 16, cap = vn.len / 24, nl = 0;
    int bad = vl.len < k * 40;
    for (Py_ssize_t i = 0; i < k && !bad; i++) {
        Py_ssize_t pos = sp[2 * i], e = sp[2 * i + 1];
        uint64_t *r = lo + i * 5;
        r[0] = r[1] = r[2] = r[3] = r[4] = 0;
        while (pos < e && !bad) {
            uint64_t tag, x;
            if (varint(b, e, &pos, &tag)) { bad = 1; break; }
            uint64_t f = tag >> 3;
            int wt = (int)(tag & 7);
            if (f == 0) { bad = 1; break; }
            if (f == 1 || f == 2 || f == 3 || f == 5) {
                if (wt != 0 || varint(b, e, &pos, &x)) { bad = 1; break; }
                r[f == 5 ? 3 : f - 1] = f == 5 ? (x != 0) : x;
            } else if (f == 4) {
                if (wt != 2 || varint(b, e, &pos, &x) || x > (uint64_t)(e - pos) || nl >= cap) {
                    bad = 1;
                    break;
                }
                uint64_t v[4];
                if (msg_varints(b, pos, pos + (Py_ssize_t)x, 3, v)) { bad = 1; break; }
                pos += (Py_ssize_t)x;
                ln[nl * 3] = v[1];
                ln[nl * 3 + 1] = v[2];
                ln[nl * 3 + 2] = v[3];
                nl++;
                r[4]++;
            } else if (skip_field(b, e, &pos, wt)) { bad = 1; break; }
        }
        if (pos != e) bad = 1;
    }
    PyBuffer_Release(&vb); PyBuffer_Release(&vs); PyBuffer_Release(&vl); PyBuffer_Release(&vn);
    return PyLong_FromSsize_t(bad ? -1 : nl);
}

/* ------------------------------------------------------------------------------------------ */
/* poly_hash(offsets, stack_locations, rand, out): out[i] = sum_j rand[loc_j] * W^j (mod 2^64)
 * over sample i's stack (leaf first), W = 0x9E3779B97F4A7C15; -1 for a location id past
 * rand. */
static PyObject *w_poly_hash(PyObject *self, PyObject *args) {
    Py_buffer vo, vs, vr, vout;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &vo, &vs, &vr, &vout)) return NULL;
    const int64_t *offs = vo.buf, *stack = vs.buf;
    const uint64_t *rand = vr.buf;
    uint64_t *out = vout.buf;
    Py_ssize_t n = vout.len / 8, nr = vr.len / 8;
    int bad = vo.len < (n + 1) * 8;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        uint64_t h = 0, pw = 1;
        for (int64_t j = offs[i]; j < offs[i + 1]; j++) {
            int64_t l = stack[j];
            if (l < 0 || l >= nr) { bad = 1; break; }
            h += rand[l] * pw;
            pw *= 0x9E3779B97F4A7C15ULL;
        }
        out[i] = h;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&vo); PyBuffer_Release(&vs); PyBuffer_Release(&vr); PyBuffer_Release(&vout);
    return PyLong_FromLong(bad ? -1 : 0);
}

static PyMethodDef methods[] = {
    {"scan", w_scan, METH_VARARGS, "Top-level fields of a profile: sample spans, other fields."},
    {"decode", w_decode, METH_VARARGS, "Decode a batch of samples into columns."},
    {"fold", w_fold, METH_VARARGS, "Per-node flat and cumulative totals of samples."},
    {"messages", w_messages, METH_VARARGS, "Varint fields of many small messages."},
    {"locations", w_locations, METH_VARARGS, "Location messages and their lines."},
    {"poly_hash", w_poly_hash, METH_VARARGS, "A polynomial hash of each stack."},
    {"trie", w_trie, METH_VARARGS, "The flame tree of stacks, level by level."},
    {"trie_wire", w_trie_wire, METH_VARARGS, "The flame tree of stacks left in the protobuf."},
    {"spans", w_spans, METH_VARARGS, "Values and location-id spans of a batch of samples."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wire", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wire(void) { return PyModule_Create(&module); }
