/*
 * checker._table: a fixed-capacity, lock-free hash set of 64-bit state fingerprints that lives
 * in a caller-provided writable buffer.
 *
 * The buffer may be process-local (a bytearray) or shared (multiprocessing.shared_memory), so
 * that the workers of a parallel level-synchronous breadth-first search can all insert into one
 * seen set without locks.  Every word that more than one process may touch is accessed only
 * through GCC __atomic builtins; nothing else in the buffer is mutable.
 *
 * Layout (all words are native-endian uint64, the buffer must be 8-byte aligned):
 *
 *     header  64 bytes   word 0: capacity (0 in a fresh buffer, set by the first Table())
 *                        word 1: number of occupied slots
 *                        words 2-7: reserved, zero
 *     slots   capacity * 24 bytes, each { fingerprint, ~key, parent }
 *
 * A zeroed buffer is therefore an empty table, and each zero word in a slot means "nothing yet":
 *
 *   - fingerprint 0 marks an empty slot.  A real fingerprint 0 is stored as ZERO_ALIAS instead,
 *     on the way in (every function that takes a fingerprint, parents included) and mapped back
 *     to 0 on the way out.  So 0 and ZERO_ALIAS are the same fingerprint to this table; a
 *     collision between them is a 2^-64 event, like any other fingerprint collision.
 *   - the key is stored complemented (word = ~key), so a zero word reads as key UINT64_MAX,
 *     "not yet written".  This is what makes insertion safe without a lock: the inserter
 *     claims the slot by CAS on the fingerprint word and only afterwards lowers the key, so a
 *     concurrent reader may see the fingerprint before any key.  Because the unwritten key is
 *     the largest possible one, that reader's CAS-min is simply correct, and it does not matter
 *     which of the two lands first.  Callers may not offer key UINT64_MAX themselves.
 *   - parent 0 means "no parent recorded"; it is written only after the level barrier.
 *
 * Slots are never deleted, so linear probing stays correct under concurrency: a probe that
 * meets an empty slot knows the fingerprint was absent at the moment it looked, and a claimed
 * slot never changes its fingerprint again.
 *
 * Keys: the BFS offers key = (level << 54) | (rank << 16) | ordinal, where smaller keys come
 * earlier in sequential BFS order, and level_base = level << 54.  Within a level the smallest
 * key offered wins; an entry whose key is below level_base was inserted in an earlier level.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#include "_table.h"

/* How far ahead offer_many prefetches: enough to overlap several cache misses, small enough
   that the lines are still cached when their turn comes.  On a 192 MiB table, 16 doubled the
   throughput of no prefetching; 8 was close and 32 worse. */
#ifndef PREFETCH_DISTANCE
#define PREFETCH_DISTANCE 16
#endif

static PyObject *TableFull = NULL;

/* ------------------------------------------------------------------------------------------ */
/* The Table object.                                                                           */

static PyTypeObject Table_Type;

static int
check_open(TableObject *t)
{
    if (!t->has_view) {
        PyErr_SetString(PyExc_ValueError, "operation on a closed Table");
        return -1;
    }
    return 0;
}

static int
check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t expected)
{
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", name,
                     expected, nargs);
        return -1;
    }
    return 0;
}

static int
check_key(uint64_t key)
{
    if (key == KEY_UNSET) {
        PyErr_SetString(PyExc_ValueError,
                        "key 2**64 - 1 is reserved (it marks a key not yet written)");
        return -1;
    }
    return 0;
}

/* Rounded down, and overflow-free for any capacity. */
static unsigned long long
limit_for(unsigned long long capacity)
{
    return capacity / 10 * 9 + capacity % 10 * 9 / 10;
}

static int
check_capacity(Py_ssize_t capacity)
{
    if (capacity <= 0 || (capacity & (capacity - 1)) != 0) {
        PyErr_Format(PyExc_ValueError, "capacity must be a positive power of two, not %zd",
                     capacity);
        return -1;
    }
    if (capacity > (PY_SSIZE_T_MAX - HEADER_BYTES) / SLOT_BYTES) {
        PyErr_Format(PyExc_ValueError, "capacity %zd is too large", capacity);
        return -1;
    }
    return 0;
}

/* Raise TableFull.  When results is not NULL (offer_many), the exception also carries the
   number of offers applied and their results, so that the caller can grow the table and resume
   where it stopped. */
static void
raise_full(TableObject *t, Py_ssize_t done, const char *results)
{
    PyObject *msg = PyUnicode_FromFormat(
        "table full: %llu entries, capacity %llu, limit %llu (grow it with rehash())",
        (unsigned long long)__atomic_load_n(&t->header[H_COUNT], __ATOMIC_RELAXED),
        t->capacity, t->limit);
    if (msg == NULL) {
        return;
    }
    PyObject *exc = PyObject_CallOneArg(TableFull, msg);
    Py_DECREF(msg);
    if (exc == NULL) {
        return;
    }
    if (results != NULL) {
        PyObject *n = PyLong_FromSsize_t(done);
        PyObject *prefix = PyBytes_FromStringAndSize(results, done);
        int failed = n == NULL || prefix == NULL ||
                     PyObject_SetAttrString(exc, "done", n) < 0 ||
                     PyObject_SetAttrString(exc, "results", prefix) < 0;
        Py_XDECREF(n);
        Py_XDECREF(prefix);
        if (failed) {
            /* Report the secondary failure rather than a TableFull without its attributes. */
            Py_DECREF(exc);
            return;
        }
    }
    PyErr_SetObject(TableFull, exc);
    Py_DECREF(exc);
}

static PyObject *
Table_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"buffer", "capacity", NULL};
    PyObject *buffer;
    Py_ssize_t capacity;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "On:Table", kwlist, &buffer, &capacity)) {
        return NULL;
    }
    if (check_capacity(capacity) < 0) {
        return NULL;
    }
    TableObject *t = (TableObject *)type->tp_alloc(type, 0);
    if (t == NULL) {
        return NULL;
    }
    if (PyObject_GetBuffer(buffer, &t->view, PyBUF_WRITABLE) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    t->has_view = 1;
    Py_ssize_t need = HEADER_BYTES + capacity * SLOT_BYTES;
    if (t->view.len < need) {
        PyErr_Format(PyExc_ValueError,
                     "buffer of %zd bytes is too small for capacity %zd (needs %zd)",
                     t->view.len, capacity, need);
        Py_DECREF(t);
        return NULL;
    }
    if (((uintptr_t)t->view.buf & 7) != 0) {
        PyErr_SetString(PyExc_ValueError, "buffer must be 8-byte aligned for atomic access");
        Py_DECREF(t);
        return NULL;
    }
    t->header = (uint64_t *)t->view.buf;
    t->slots = (uint64_t *)((char *)t->view.buf + HEADER_BYTES);
    t->capacity = (unsigned long long)capacity;
    t->limit = limit_for(t->capacity);
    /* Record the capacity so that a second process wrapping the same memory with a different
       one fails loudly instead of probing a differently sized table. */
    uint64_t recorded = 0;
    if (!__atomic_compare_exchange_n(&t->header[H_CAPACITY], &recorded, (uint64_t)capacity, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
        recorded != (uint64_t)capacity) {
        PyErr_Format(PyExc_ValueError,
                     "buffer already holds a table of capacity %llu, not %zd",
                     (unsigned long long)recorded, capacity);
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static void
release_view(TableObject *t)
{
    if (t->has_view) {
        t->has_view = 0;
        t->header = NULL;
        t->slots = NULL;
        PyBuffer_Release(&t->view);
    }
}

static void
Table_dealloc(TableObject *t)
{
    release_view(t);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

PyDoc_STRVAR(offer_doc,
"offer(fp, key, level_base) -> int\n\n"
"Offer fingerprint fp with BFS-order key.  Returns 0 if fp is already present with a key\n"
"below level_base (a state from an earlier level; nothing changes), 1 if this call inserted\n"
"fp or lowered its key to `key` (this caller is currently the best), 2 if a smaller or equal\n"
"key of this level is already stored.  Raises TableFull, changing nothing, if fp is absent\n"
"and the table holds its limit of entries.");

static PyObject *
Table_offer(TableObject *t, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t fp, key, level_base;
    if (check_nargs("offer", nargs, 3) < 0 || check_open(t) < 0 ||
        as_u64(args[0], "fp", &fp) < 0 || as_u64(args[1], "key", &key) < 0 ||
        as_u64(args[2], "level_base", &level_base) < 0 || check_key(key) < 0) {
        return NULL;
    }
    int r = offer_one(t, fp, key, level_base);
    if (r < 0) {
        raise_full(t, 0, NULL);
        return NULL;
    }
    return PyLong_FromLong(r);
}

/* A read-only, C-contiguous view of uint64 words (any buffer whose size is a multiple of 8). */
static int
get_words(PyObject *obj, const char *what, Py_buffer *view, Py_ssize_t *n)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    if (view->len % 8 != 0) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes is not a whole number of "
                     "uint64 words", what, view->len);
        PyBuffer_Release(view);
        return -1;
    }
    *n = view->len / 8;
    return 0;
}

static inline uint64_t
word_at(const Py_buffer *view, Py_ssize_t i)
{
    /* memcpy: the caller's buffer (bytes, a slice) need not be 8-byte aligned. */
    uint64_t w;
    memcpy(&w, (const char *)view->buf + i * 8, 8);
    return w;
}

PyDoc_STRVAR(offer_many_doc,
"offer_many(fps, keys, level_base) -> bytes\n\n"
"offer() for each pair of native uint64 words in the buffers fps and keys (array('Q'),\n"
"numpy uint64, bytes...), returning one result byte per offer.  Every key is checked before\n"
"any offer is made.  On TableFull the first e.done offers have been applied, with results\n"
"e.results; retry the rest after growing the table.");

static PyObject *
Table_offer_many(TableObject *t, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t level_base;
    if (check_nargs("offer_many", nargs, 3) < 0 || check_open(t) < 0 ||
        as_u64(args[2], "level_base", &level_base) < 0) {
        return NULL;
    }
    Py_buffer fps, keys;
    Py_ssize_t n, nkeys;
    if (get_words(args[0], "fps", &fps, &n) < 0) {
        return NULL;
    }
    if (get_words(args[1], "keys", &keys, &nkeys) < 0) {
        PyBuffer_Release(&fps);
        return NULL;
    }
    PyObject *result = NULL;
    if (n != nkeys) {
        PyErr_Format(PyExc_ValueError, "fps has %zd words but keys has %zd", n, nkeys);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (word_at(&keys, i) == KEY_UNSET) {
            PyErr_Format(PyExc_ValueError,
                         "keys[%zd]: key 2**64 - 1 is reserved (it marks a key not yet written)",
                         i);
            goto done;
        }
    }
    result = PyBytes_FromStringAndSize(NULL, n);
    if (result == NULL) {
        goto done;
    }
    char *out = PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0; i < n; i++) {
        /* A batch is mostly cache misses on a big table; start the next lines early. */
        if (i + PREFETCH_DISTANCE < n) {
            prefetch_slot(t, word_at(&fps, i + PREFETCH_DISTANCE));
        }
        int r = offer_one(t, word_at(&fps, i), word_at(&keys, i), level_base);
        if (r < 0) {
            raise_full(t, i, out);
            Py_CLEAR(result);
            goto done;
        }
        out[i] = (char)r;
    }
done:
    PyBuffer_Release(&fps);
    PyBuffer_Release(&keys);
    return result;
}

PyDoc_STRVAR(add_doc,
"add(fp) -> bool\n\n"
"Plain seen-set insertion: True if fp was absent and has now been inserted (with key 0, so\n"
"it counts as old for every level_base > 0), False if it was present (left unchanged).");

static PyObject *
Table_add(TableObject *t, PyObject *arg)
{
    uint64_t fp, i;
    if (check_open(t) < 0 || as_u64(arg, "fp", &fp) < 0) {
        return NULL;
    }
    int claim = claim_slot(t, to_stored(fp), &i);
    if (claim == CLAIM_FULL) {
        raise_full(t, 0, NULL);
        return NULL;
    }
    if (claim == CLAIM_FOUND) {
        Py_RETURN_FALSE;
    }
    /* Key 0 is the minimum, so storing its complement is the CAS-min, whatever races it. */
    __atomic_store_n(&t->slots[i * SLOT_WORDS + W_KEY], ~(uint64_t)0, __ATOMIC_RELEASE);
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(key_doc,
"key(fp) -> int | None\n\n"
"The stored key of fp, or None if absent.  2**64 - 1 means fp was claimed by an offer that\n"
"has not written its key yet (visible only while offers are in flight).");

static PyObject *
Table_key(TableObject *t, PyObject *arg)
{
    uint64_t fp;
    if (check_open(t) < 0 || as_u64(arg, "fp", &fp) < 0) {
        return NULL;
    }
    int64_t i = find_slot(t, to_stored(fp));
    if (i < 0) {
        Py_RETURN_NONE;
    }
    uint64_t word = __atomic_load_n(&t->slots[i * SLOT_WORDS + W_KEY], __ATOMIC_ACQUIRE);
    return PyLong_FromUnsignedLongLong(~word);
}

PyDoc_STRVAR(set_parent_doc,
"set_parent(fp, parent_fp) -> None\n\n"
"Record parent_fp as the parent of fp (KeyError if fp is absent).  Meant for the winner of\n"
"fp, after the level barrier; the last write wins.");

static PyObject *
Table_set_parent(TableObject *t, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t fp, parent;
    if (check_nargs("set_parent", nargs, 2) < 0 || check_open(t) < 0 ||
        as_u64(args[0], "fp", &fp) < 0 || as_u64(args[1], "parent_fp", &parent) < 0) {
        return NULL;
    }
    int64_t i = find_slot(t, to_stored(fp));
    if (i < 0) {
        PyErr_SetObject(PyExc_KeyError, args[0]);
        return NULL;
    }
    __atomic_store_n(&t->slots[i * SLOT_WORDS + W_PARENT], to_stored(parent), __ATOMIC_RELEASE);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(offer_candidates_doc,
"offer_candidates(successors, state, number, fingerprint, prefix, level_base, retry, "
"candidates) -> None\n\n"
"Offer each successor of a state in a list, as the parallel search does: successor i has key\n"
"prefix | i and fingerprint number when it is state itself, else fingerprint(successor).\n"
"Appends (key, fp, successor, number) to the list candidates for each offer that set the\n"
"smallest key so far (with retry, also for a key already stored, a repeated offer).  Raises\n"
"TableFull when the table is full, and whatever fingerprint raises.");

static PyObject *fp_function = NULL;          /* checker._fp.fingerprint; None without it */
static fingerprint_word_fn fp_word = NULL;     /* the same as a C function */

/* The C function behind `function` when it is checker._fp.fingerprint (called without a
   Python int per successor), else NULL; *error is set when loading checker._fp failed. */
static fingerprint_word_fn
direct_fingerprint(PyObject *function, int *error)
{
    *error = 0;
    if (fp_function == NULL) {
        PyObject *module = PyImport_ImportModule("checker._fp");
        if (module == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_ImportError)) {
                *error = 1;
                return NULL;
            }
            PyErr_Clear();
            fp_function = Py_NewRef(Py_None);
            return NULL;
        }
        PyObject *found = PyObject_GetAttrString(module, "fingerprint");
        Py_DECREF(module);
        fp_word = found == NULL ? NULL
                  : (fingerprint_word_fn)PyCapsule_Import(FINGERPRINT_WORD_CAPSULE, 0);
        if (fp_word == NULL) {
            Py_XDECREF(found);
            *error = 1;
            return NULL;
        }
        fp_function = found;
    }
    return function == fp_function ? fp_word : NULL;
}

/* Offer successor's fingerprint fp under key and append (key, code, successor, number) to
   candidates when it is one (code: fp as an int, made here when NULL; the reference is
   stolen).  -1 with an exception set when the table is full or memory runs out. */
static int
offer_candidate(TableObject *t, PyObject *successor, PyObject *number, uint64_t fp,
                PyObject *code, uint64_t key, uint64_t level_base, int retry,
                PyObject *candidates)
{
    int r = offer_one(t, fp, key, level_base);
    if (r < 0) {
        Py_XDECREF(code);
        raise_full(t, 0, NULL);
        return -1;
    }
    int candidate = r == OFFER_BEST;
    if (!candidate && retry && r == OFFER_LOST) {
        int64_t slot = find_slot(t, to_stored(fp));
        candidate = slot >= 0 &&
            ~__atomic_load_n(&t->slots[slot * SLOT_WORDS + W_KEY], __ATOMIC_ACQUIRE) == key;
    }
    if (!candidate) {
        Py_XDECREF(code);
        return 0;
    }
    if (code == NULL && (code = PyLong_FromUnsignedLongLong(fp)) == NULL) {
        return -1;
    }
    PyObject *entry = PyTuple_New(4);
    PyObject *key_object = PyLong_FromUnsignedLongLong(key);
    if (entry == NULL || key_object == NULL) {
        Py_XDECREF(entry);
        Py_XDECREF(key_object);
        Py_DECREF(code);
        return -1;
    }
    PyTuple_SET_ITEM(entry, 0, key_object);
    PyTuple_SET_ITEM(entry, 1, code);
    PyTuple_SET_ITEM(entry, 2, Py_NewRef(successor));
    PyTuple_SET_ITEM(entry, 3, Py_NewRef(number));
    /* Its items were all made before it, so it can be in no reference cycle: the cycle
       collector need not walk it and its two fresh ints (a worker keeps one per new state
       for the level; 2PC-8 with 2 workers: 2.0 s of collections instead of 2.7-3.6). */
    PyObject_GC_UnTrack(entry);
    int appended = PyList_Append(candidates, entry);
    Py_DECREF(entry);
    return appended;
}

/* offer_candidates with the compiled fingerprint, FINGERPRINT_AHEAD successors at a time
   (see fingerprint_ahead). */
static PyObject *
offer_ahead(TableObject *t, PyObject *successors, PyObject *state, PyObject *number,
            uint64_t own, fingerprint_word_fn direct, uint64_t prefix, uint64_t level_base,
            int retry, PyObject *candidates)
{
    uint64_t codes[FINGERPRINT_AHEAD];
    Py_ssize_t n = PyList_GET_SIZE(successors);
    for (Py_ssize_t first = 0; first < n; first += FINGERPRINT_AHEAD) {
        Py_ssize_t end = n - first > FINGERPRINT_AHEAD ? first + FINGERPRINT_AHEAD : n;
        PyObject *error[3] = {NULL, NULL, NULL};
        Py_ssize_t ready = fingerprint_ahead(t, direct, successors, state, own, first, end,
                                             codes, error);
        for (Py_ssize_t i = first; i < ready; i++) {
            PyObject *successor = PyList_GET_ITEM(successors, i);
            PyObject *code = successor == state ? Py_NewRef(number) : NULL;
            if (offer_candidate(t, successor, number, codes[i - first], code,
                                prefix | (uint64_t)i, level_base, retry, candidates) < 0) {
                Py_XDECREF(error[0]);
                Py_XDECREF(error[1]);
                Py_XDECREF(error[2]);
                return NULL;
            }
        }
        if (error[0] != NULL) {
            PyErr_Restore(error[0], error[1], error[2]);
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
Table_offer_candidates(TableObject *t, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t prefix, level_base;
    if (check_nargs("offer_candidates", nargs, 8) < 0 || check_open(t) < 0 ||
        as_u64(args[4], "prefix", &prefix) < 0 || as_u64(args[5], "level_base", &level_base) < 0) {
        return NULL;
    }
    PyObject *successors = args[0], *state = args[1], *number = args[2], *function = args[3];
    PyObject *candidates = args[7];
    int retry = PyObject_IsTrue(args[6]);
    if (retry < 0) {
        return NULL;
    }
    if (!PyList_CheckExact(successors) || !PyList_CheckExact(candidates)) {
        PyErr_SetString(PyExc_TypeError, "offer_candidates() takes lists of successors and "
                        "candidates");
        return NULL;
    }
    if (PyList_GET_SIZE(successors) > 0xFFFF || (prefix & 0xFFFF) != 0) {
        PyErr_SetString(PyExc_ValueError, "offer_candidates(): at most 65535 successors, and "
                        "the prefix leaves the low 16 bits for their ordinals");
        return NULL;
    }
    uint64_t own;
    int error;
    fingerprint_word_fn direct = direct_fingerprint(function, &error);
    if (error || as_u64(number, "number", &own) < 0) {
        return NULL;
    }
    if (direct != NULL) {
        return offer_ahead(t, successors, state, number, own, direct, prefix, level_base, retry,
                           candidates);
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(successors); i++) {
        PyObject *successor = PyList_GET_ITEM(successors, i);
        PyObject *code;
        uint64_t fp;
        if (successor == state) {
            code = Py_NewRef(number);
            fp = own;
        }
        else {
            Py_INCREF(successor);
            code = PyObject_CallOneArg(function, successor);
            Py_DECREF(successor);
            if (code == NULL) {
                return NULL;
            }
            if (as_u64(code, "fingerprint", &fp) < 0) {
                Py_DECREF(code);
                return NULL;
            }
        }
        if (offer_candidate(t, successor, number, fp, code, prefix | (uint64_t)i, level_base,
                            retry, candidates) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(settle_doc,
"settle(candidates) -> list\n\n"
"The winners among candidates, a list of (key, fp, state, parent_fp) tuples: those whose key\n"
"is fp's stored key, in their order.  Records parent_fp as the parent of each winner.  The\n"
"level barrier's step, in one pass that prefetches the slots ahead.");

/* The fingerprint of candidate i in stored form, or 0 (with an exception) if it is not one. */
static uint64_t
candidate_fp(PyObject *list, Py_ssize_t i)
{
    PyObject *item = PyList_GET_ITEM(list, i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 4) {
        PyErr_SetString(PyExc_TypeError, "settle() candidates are (key, fp, state, parent) tuples");
        return 0;
    }
    uint64_t fp;
    if (as_u64(PyTuple_GET_ITEM(item, 1), "fp", &fp) < 0) {
        return 0;
    }
    return to_stored(fp);
}

static PyObject *
Table_settle(TableObject *t, PyObject *candidates)
{
    if (check_open(t) < 0) {
        return NULL;
    }
    if (!PyList_Check(candidates)) {
        PyErr_SetString(PyExc_TypeError, "settle() takes a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(candidates);
    PyObject *won = PyList_New(0);
    if (won == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + PREFETCH_DISTANCE < n) {
            uint64_t ahead = candidate_fp(candidates, i + PREFETCH_DISTANCE);
            if (ahead == 0) {
                goto error;
            }
            prefetch_slot(t, ahead);
        }
        uint64_t fp = candidate_fp(candidates, i), key, parent;
        PyObject *item = PyList_GET_ITEM(candidates, i);
        if (fp == 0 || as_u64(PyTuple_GET_ITEM(item, 0), "key", &key) < 0 ||
            as_u64(PyTuple_GET_ITEM(item, 3), "parent_fp", &parent) < 0) {
            goto error;
        }
        int64_t slot = find_slot(t, fp);
        if (slot < 0) {
            continue;
        }
        uint64_t *words = &t->slots[slot * SLOT_WORDS];
        if (~__atomic_load_n(&words[W_KEY], __ATOMIC_ACQUIRE) != key) {
            continue;
        }
        __atomic_store_n(&words[W_PARENT], to_stored(parent), __ATOMIC_RELEASE);
        if (PyList_Append(won, item) < 0) {
            goto error;
        }
    }
    return won;
error:
    Py_DECREF(won);
    return NULL;
}

PyDoc_STRVAR(parent_doc,
"parent(fp) -> int | None\n\n"
"The parent fingerprint recorded for fp, or None if fp is absent or has no parent.");

static PyObject *
Table_parent(TableObject *t, PyObject *arg)
{
    uint64_t fp;
    if (check_open(t) < 0 || as_u64(arg, "fp", &fp) < 0) {
        return NULL;
    }
    int64_t i = find_slot(t, to_stored(fp));
    if (i < 0) {
        Py_RETURN_NONE;
    }
    uint64_t word = __atomic_load_n(&t->slots[i * SLOT_WORDS + W_PARENT], __ATOMIC_ACQUIRE);
    if (word == 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromUnsignedLongLong(from_stored(word));
}

static PyObject *
Table_count(TableObject *t, PyObject *Py_UNUSED(ignored))
{
    if (check_open(t) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(__atomic_load_n(&t->header[H_COUNT], __ATOMIC_ACQUIRE));
}

static Py_ssize_t
Table_len(TableObject *t)
{
    if (check_open(t) < 0) {
        return -1;
    }
    return (Py_ssize_t)__atomic_load_n(&t->header[H_COUNT], __ATOMIC_ACQUIRE);
}

static int
Table_contains(TableObject *t, PyObject *arg)
{
    uint64_t fp;
    if (check_open(t) < 0 || as_u64(arg, "fp", &fp) < 0) {
        return -1;
    }
    return find_slot(t, to_stored(fp)) >= 0;
}

static PyObject *
Table_close(TableObject *t, PyObject *Py_UNUSED(ignored))
{
    release_view(t);
    Py_RETURN_NONE;
}

static PyObject *
Table_enter(TableObject *t, PyObject *Py_UNUSED(ignored))
{
    if (check_open(t) < 0) {
        return NULL;
    }
    Py_INCREF(t);
    return (PyObject *)t;
}

static PyObject *
Table_exit(TableObject *t, PyObject *Py_UNUSED(args))
{
    release_view(t);
    Py_RETURN_NONE;
}

static PyObject *Table_items(TableObject *t, PyObject *Py_UNUSED(ignored));

static PyMethodDef Table_methods[] = {
    {"offer", (PyCFunction)(void (*)(void))Table_offer, METH_FASTCALL, offer_doc},
    {"offer_many", (PyCFunction)(void (*)(void))Table_offer_many, METH_FASTCALL,
     offer_many_doc},
    {"add", (PyCFunction)Table_add, METH_O, add_doc},
    {"key", (PyCFunction)Table_key, METH_O, key_doc},
    {"settle", (PyCFunction)Table_settle, METH_O, settle_doc},
    {"offer_candidates", (PyCFunction)(void (*)(void))Table_offer_candidates, METH_FASTCALL,
     offer_candidates_doc},
    {"set_parent", (PyCFunction)(void (*)(void))Table_set_parent, METH_FASTCALL,
     set_parent_doc},
    {"parent", (PyCFunction)Table_parent, METH_O, parent_doc},
    {"count", (PyCFunction)Table_count, METH_NOARGS,
     "count() -> int\n\nNumber of fingerprints in the table (shared by all processes)."},
    {"items", (PyCFunction)Table_items, METH_NOARGS,
     "items() -> iterator of (fp, key, parent or None), in slot order.\n\n"
     "Meant for a quiescent table (tests, trace reconstruction)."},
    {"close", (PyCFunction)Table_close, METH_NOARGS,
     "close() -> None\n\nRelease the buffer now (SharedMemory.close() refuses while it is\n"
     "exported); any later use of this Table raises ValueError.  Idempotent."},
    {"__enter__", (PyCFunction)Table_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Table_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Table_members[] = {
    {"capacity", T_ULONGLONG, offsetof(TableObject, capacity), READONLY,
     "number of slots (a power of two)"},
    {"limit", T_ULONGLONG, offsetof(TableObject, limit), READONLY,
     "most entries before TableFull: floor(0.9 * capacity)"},
    {NULL, 0, 0, 0, NULL},
};

static PySequenceMethods Table_as_sequence = {
    .sq_length = (lenfunc)Table_len,
    .sq_contains = (objobjproc)Table_contains,
};

PyDoc_STRVAR(Table_doc,
"Table(buffer, capacity)\n\n"
"A lock-free hash table of 64-bit fingerprints inside `buffer` (any writable, 8-byte\n"
"aligned buffer of at least required_bytes(capacity) bytes; zeroed means empty).  Several\n"
"processes may wrap the same shared memory and offer concurrently.  Fingerprint 0 is stored\n"
"as ZERO_ALIAS and reported as 0.  The buffer stays exported until close() or deallocation.");

static PyTypeObject Table_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "checker._table.Table",
    .tp_basicsize = sizeof(TableObject),
    .tp_dealloc = (destructor)Table_dealloc,
    .tp_as_sequence = &Table_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Table_doc,
    .tp_methods = Table_methods,
    .tp_members = Table_members,
    .tp_new = Table_new,
};

/* ------------------------------------------------------------------------------------------ */
/* items() iterator.                                                                            */

typedef struct {
    PyObject_HEAD
    TableObject *table;
    uint64_t next;
} ItemsObject;

static void
Items_dealloc(ItemsObject *it)
{
    Py_XDECREF(it->table);
    PyObject_Free(it);
}

static PyObject *
Items_next(ItemsObject *it)
{
    TableObject *t = it->table;
    if (check_open(t) < 0) {
        return NULL;
    }
    while (it->next < t->capacity) {
        uint64_t *slot = &t->slots[it->next * SLOT_WORDS];
        it->next++;
        uint64_t fp = __atomic_load_n(&slot[W_FP], __ATOMIC_ACQUIRE);
        if (fp == 0) {
            continue;
        }
        uint64_t key = ~__atomic_load_n(&slot[W_KEY], __ATOMIC_ACQUIRE);
        uint64_t parent = __atomic_load_n(&slot[W_PARENT], __ATOMIC_ACQUIRE);
        if (parent == 0) {
            return Py_BuildValue("(KKO)", (unsigned long long)from_stored(fp),
                                 (unsigned long long)key, Py_None);
        }
        return Py_BuildValue("(KKK)", (unsigned long long)from_stored(fp),
                             (unsigned long long)key, (unsigned long long)from_stored(parent));
    }
    return NULL; /* StopIteration */
}

static PyTypeObject Items_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "checker._table.ItemsIterator",
    .tp_basicsize = sizeof(ItemsObject),
    .tp_dealloc = (destructor)Items_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Items_next,
};

static PyObject *
Table_items(TableObject *t, PyObject *Py_UNUSED(ignored))
{
    if (check_open(t) < 0) {
        return NULL;
    }
    ItemsObject *it = PyObject_New(ItemsObject, &Items_Type);
    if (it == NULL) {
        return NULL;
    }
    Py_INCREF(t);
    it->table = t;
    it->next = 0;
    return (PyObject *)it;
}

/* ------------------------------------------------------------------------------------------ */
/* Module functions.                                                                           */

static PyObject *
py_slot_bytes(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(SLOT_BYTES);
}

static PyObject *
py_required_bytes(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_ssize_t capacity = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (capacity == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (check_capacity(capacity) < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(HEADER_BYTES + capacity * SLOT_BYTES);
}

PyDoc_STRVAR(rehash_doc,
"rehash(old, new, start=0, stop=old.capacity) -> None\n\n"
"Copy the entries (fingerprint, key, parent) in slots start..stop-1 of Table old into Table\n"
"new, which must be empty when the whole table is copied.  Processes may copy disjoint\n"
"slot ranges into the same new table at once; nothing may offer into either table meanwhile.\n"
"Raises TableFull if new is too small (new then holds a partial copy and should be\n"
"discarded).");

static PyObject *
py_rehash(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 && nargs != 4) {
        PyErr_Format(PyExc_TypeError, "rehash() takes 2 or 4 arguments (%zd given)", nargs);
        return NULL;
    }
    for (int k = 0; k < 2; k++) {
        if (!PyObject_TypeCheck(args[k], &Table_Type)) {
            PyErr_Format(PyExc_TypeError, "rehash() arguments must be Tables, not %.200s",
                         Py_TYPE(args[k])->tp_name);
            return NULL;
        }
    }
    TableObject *old = (TableObject *)args[0], *new = (TableObject *)args[1];
    if (check_open(old) < 0 || check_open(new) < 0) {
        return NULL;
    }
    /* Overlapping buffers would make the copy read its own writes. */
    char *ob = old->view.buf, *nb = new->view.buf;
    if (ob < nb + new->view.len && nb < ob + old->view.len) {
        PyErr_SetString(PyExc_ValueError, "rehash() tables share memory");
        return NULL;
    }
    uint64_t start = 0, stop = old->capacity;
    if (nargs == 4) {
        Py_ssize_t first = PyLong_AsSsize_t(args[2]), last = PyLong_AsSsize_t(args[3]);
        if ((first == -1 || last == -1) && PyErr_Occurred()) {
            return NULL;
        }
        if (first < 0 || last < first || (uint64_t)last > old->capacity) {
            PyErr_Format(PyExc_ValueError, "rehash() slot range %zd..%zd is not within 0..%llu",
                         first, last, (unsigned long long)old->capacity);
            return NULL;
        }
        start = (uint64_t)first;
        stop = (uint64_t)last;
    }
    else if (__atomic_load_n(&new->header[H_COUNT], __ATOMIC_ACQUIRE) != 0) {
        PyErr_SetString(PyExc_ValueError, "rehash() target table is not empty");
        return NULL;
    }
    for (uint64_t i = start; i < stop; i++) {
        uint64_t *src = &old->slots[i * SLOT_WORDS];
        uint64_t fp = __atomic_load_n(&src[W_FP], __ATOMIC_ACQUIRE);
        if (fp == 0) {
            continue;
        }
        uint64_t j;
        if (claim_slot(new, fp, &j) == CLAIM_FULL) {
            raise_full(new, 0, NULL);
            return NULL;
        }
        uint64_t *dst = &new->slots[j * SLOT_WORDS];
        /* Raw words: the key stays complemented and the parent stays in stored form. */
        __atomic_store_n(&dst[W_KEY], __atomic_load_n(&src[W_KEY], __ATOMIC_ACQUIRE),
                         __ATOMIC_RELEASE);
        __atomic_store_n(&dst[W_PARENT], __atomic_load_n(&src[W_PARENT], __ATOMIC_ACQUIRE),
                         __ATOMIC_RELEASE);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(claim_doc,
"claim(buffer, index, value) -> int\n\n"
"Atomically set the uint32 at index of a writable buffer to value (not 0) if it holds 0, and\n"
"return what it held: 0 means this call claimed it.  Processes sharing the buffer use it to\n"
"agree on who takes a piece of work.");

static PyObject *
py_claim(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "claim() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_ssize_t index = PyLong_AsSsize_t(args[1]);
    unsigned long value = PyLong_AsUnsignedLong(args[2]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (value == 0 || value > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "claim() value must be within 1..2**32-1");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    if (index < 0 || (index + 1) * (Py_ssize_t)sizeof(uint32_t) > view.len ||
        ((uintptr_t)view.buf % sizeof(uint32_t)) != 0) {
        PyBuffer_Release(&view);
        PyErr_Format(PyExc_IndexError,
                     "claim() index %zd is outside the buffer (or the buffer is not aligned)",
                     index);
        return NULL;
    }
    uint32_t *word = (uint32_t *)view.buf + index, held = 0;
    __atomic_compare_exchange_n(word, &held, (uint32_t)value, 0, __ATOMIC_ACQ_REL,
                                __ATOMIC_ACQUIRE);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(held);
}

static PyMethodDef table_functions[] = {
    {"claim", (PyCFunction)(void (*)(void))py_claim, METH_FASTCALL, claim_doc},
    {"slot_bytes", (PyCFunction)py_slot_bytes, METH_NOARGS,
     "slot_bytes() -> int\n\nBytes per slot: fingerprint, key and parent, one uint64 each."},
    {"required_bytes", (PyCFunction)py_required_bytes, METH_O,
     "required_bytes(capacity) -> int\n\nBuffer size for a Table of this capacity (header "
     "included)."},
    {"rehash", (PyCFunction)(void (*)(void))py_rehash, METH_FASTCALL, rehash_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef table_module = {
    PyModuleDef_HEAD_INIT,
    "checker._table",
    "Lock-free fingerprint hash table in a caller-provided (possibly shared) buffer.",
    -1,
    table_functions,
};

PyMODINIT_FUNC
PyInit__table(void)
{
    if (PyType_Ready(&Table_Type) < 0 || PyType_Ready(&Items_Type) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&table_module);
    if (m == NULL) {
        return NULL;
    }
    if (TableFull == NULL) {
        TableFull = PyErr_NewExceptionWithDoc(
            "checker._table.TableFull",
            "The table reached its load limit; rehash() into a bigger one and retry.",
            PyExc_RuntimeError, NULL);
        if (TableFull == NULL) {
            goto error;
        }
    }
    PyObject *alias = PyLong_FromUnsignedLongLong(ZERO_ALIAS);
    int failed = alias == NULL || PyModule_AddObjectRef(m, "ZERO_ALIAS", alias) < 0 ||
                 PyModule_AddObjectRef(m, "TableFull", TableFull) < 0 ||
                 PyModule_AddObjectRef(m, "Table", (PyObject *)&Table_Type) < 0 ||
                 PyModule_AddIntConstant(m, "HEADER_BYTES", HEADER_BYTES) < 0 ||
                 PyModule_AddIntConstant(m, "SLOT_BYTES", SLOT_BYTES) < 0;
    Py_XDECREF(alias);
    if (failed) {
        goto error;
    }
    return m;
error:
    Py_DECREF(m);
    return NULL;
}
