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
 * in sample order) is under early. */

typedef struct {
    int64_t parent, name, id;
} Slot;

/* The next frame of sample s, root first, at its cursor (*l, *ln); l < offs[s]: no more. */
static inline void next_frame(const int64_t *offs, const int64_t *stack, const int64_t *llen,
                              int64_t s, int64_t *l, int64_t *ln) {
    if (--*ln >= 0) return;
    int64_t j = *l - 1;
    while (j >= offs[s] && llen[stack[j]] == 0) j--;
    *l = j;
    if (j >= offs[s]) *ln = llen[stack[j]] - 1;
}

/* Frames of the first PRE levels are gathered level-major before the walk: a level then
 * reads one sequential array instead of a cache line of every sample's stack. */
#define PRE 16

static PyObject *w_trie(PyObject *self, PyObject *args) {
    Py_buffer vo, vs, vls, vll, vln, vv, vc;
    double early;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*dw*", &vo, &vs, &vls, &vll, &vln, &vv, &early,
                          &vc))
        return NULL;
    const int64_t *offs = vo.buf, *stack = vs.buf, *lstart = vls.buf, *llen = vll.buf,
                  *lnames = vln.buf, *val = vv.buf;
    int64_t *cur = vc.buf;
    Py_ssize_t n = vv.len / 8;
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
            int64_t l = offs[i + 1] - 1, ln = 0;
            while (l >= offs[i] && llen[stack[l]] == 0) l--;
            if (l >= offs[i]) ln = llen[stack[l]] - 1;
            int k = 0;
            for (; k < PRE && l >= offs[i]; k++) {
                pre[(size_t)k * nn + (size_t)i] = (int32_t)lnames[lstart[stack[l]] + ln];
                next_frame(offs, stack, llen, i, &l, &ln);
            }
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
        const int32_t *pre_d = d < PRE ? pre + (size_t)d * nn : NULL;
        for (int64_t j = 0; j < na; j++) {
            int64_t s = active[j];
            int64_t nm;
            if (pre_d) {
                nm = pre_d[s];
            } else {
                nm = lnames[lstart[stack[at_loc[s]]] + at_line[s]];
                next_frame(offs, stack, llen, s, &at_loc[s], &at_line[s]);
            }
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
            int more = d + 1 < PRE ? d + 1 < npre[s] : at_loc[s] >= offs[s];
            if (more) active[k++] = s;
        }
        na = k;
    }
    Py_END_ALLOW_THREADS
    free(active); free(at_loc); free(at_line); free(npre); free(pre); free(tot); free(table);
    PyBuffer_Release(&vo); PyBuffer_Release(&vs); PyBuffer_Release(&vls);
    PyBuffer_Release(&vll); PyBuffer_Release(&vln); PyBuffer_Release(&vv);
    PyBuffer_Release(&vc);
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
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wire", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wire(void) { return PyModule_Create(&module); }
