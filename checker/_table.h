/*
 * The layout of checker._table's fingerprint table and the primitives that probe and insert
 * into it: checker._table builds the Table type on them, and checker._fp offers a state's
 * successors straight into a Table's memory with them (offer_successors), without a Python
 * int and a method call per successor.  The layout and the concurrency rules are described at
 * the top of _table.c.  Everything here is static, so each module has its own copy.
 */

#ifndef CHECKER_TABLE_H
#define CHECKER_TABLE_H

#include <Python.h>
#include <stdint.h>

/* checker._fp's fingerprint as a C function (value, out) -> 0, or -1 with an exception set;
   checker._fp exports it in a capsule of this name. */
typedef int (*fingerprint_word_fn)(PyObject *, uint64_t *);
#define FINGERPRINT_WORD_CAPSULE "checker._fp.fingerprint_word"

#define HEADER_BYTES 64
#define SLOT_WORDS 3
#define SLOT_BYTES (SLOT_WORDS * 8)
#define H_CAPACITY 0
#define H_COUNT 1
#define W_FP 0
#define W_KEY 1
#define W_PARENT 2
/* The stand-in for fingerprint 0 (the golden-ratio constant; any fixed nonzero value works). */
#define ZERO_ALIAS 0x9E3779B97F4A7C15ull
#define KEY_UNSET UINT64_MAX
/* offer() results, also the byte values of offer_many(). */
#define OFFER_OLD 0
#define OFFER_BEST 1
#define OFFER_LOST 2

static inline uint64_t
to_stored(uint64_t fp)
{
    return fp ? fp : ZERO_ALIAS;
}

static inline uint64_t
from_stored(uint64_t word)
{
    return word == ZERO_ALIAS ? 0 : word;
}

/* Fingerprints from checker.fingerprint are already well mixed, but the table is also used as
   a plain set of arbitrary integers (tests, small ids), where structured values would cluster
   under linear probing; the splitmix64 finaliser is cheap next to a Python call. */
static inline uint64_t
home_slot(uint64_t fp, uint64_t mask)
{
    fp ^= fp >> 30;
    fp *= 0xBF58476D1CE4E5B9ull;
    fp ^= fp >> 27;
    fp *= 0x94D049BB133111EBull;
    fp ^= fp >> 31;
    return fp & mask;
}

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int has_view;
    uint64_t *header;
    uint64_t *slots;
    unsigned long long capacity;
    unsigned long long limit; /* the most entries offer() will insert before TableFull */
} TableObject;

static inline int
as_u64(PyObject *obj, const char *what, uint64_t *out)
{
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.200s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    /* PyLong_AsUnsignedLongLong converts through a byte array, digit by byte: a fifth of a
       seen-set offer.  The mask conversion reads the digits directly; the range is checked
       first. */
    if (_PyLong_Sign(obj) < 0 || _PyLong_NumBits(obj) > 64) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_OverflowError, "%s must be in range(0, 2**64)", what);
        }
        return -1;
    }
    *out = (uint64_t)PyLong_AsUnsignedLongLongMask(obj);
    return 0;
}

/* Start loading fp's slot into the cache, so that a probe soon after finds it there. */
static inline void
prefetch_slot(TableObject *t, uint64_t fp)
{
    __builtin_prefetch(&t->slots[home_slot(to_stored(fp), t->capacity - 1) * SLOT_WORDS], 1, 1);
}

/* How many successors the offering loops fingerprint before they offer them. */
#define FINGERPRINT_AHEAD 32

/*
 * Fingerprint successors[first:end] into codes (the state itself has `own`), prefetching each
 * one's slot, so that the table's cache misses overlap the fingerprinting instead of following
 * it.  Returns where it stopped: end, or the first successor that could not be fingerprinted,
 * whose exception is moved into error (type, value, traceback) to be raised once the
 * successors before it are offered, as offering one at a time would.
 */
static inline Py_ssize_t
fingerprint_ahead(TableObject *t, fingerprint_word_fn fingerprint, PyObject *successors,
                  PyObject *state, uint64_t own, Py_ssize_t first, Py_ssize_t end,
                  uint64_t *codes, PyObject *error[3])
{
    for (Py_ssize_t i = first; i < end; i++) {
        PyObject *successor = PyList_GET_ITEM(successors, i);
        uint64_t *code = &codes[i - first];
        if (successor == state) {
            *code = own;
            continue;
        }
        Py_INCREF(successor);
        int rc = fingerprint(successor, code);
        Py_DECREF(successor);
        if (rc < 0) {
            PyErr_Fetch(&error[0], &error[1], &error[2]);
            return i;
        }
        prefetch_slot(t, *code);
    }
    return end;
}

/* Index of fp's slot, or -1.  A miss is only a snapshot: another process may be inserting. */
static inline int64_t
find_slot(TableObject *t, uint64_t fp)
{
    uint64_t mask = t->capacity - 1;
    uint64_t i = home_slot(fp, mask);
    for (uint64_t n = 0; n < t->capacity; n++) {
        uint64_t word = __atomic_load_n(&t->slots[i * SLOT_WORDS + W_FP], __ATOMIC_ACQUIRE);
        if (word == fp) {
            return (int64_t)i;
        }
        if (word == 0) {
            return -1;
        }
        i = (i + 1) & mask;
    }
    return -1;
}

#define CLAIM_FOUND 0
#define CLAIM_INSERTED 1
#define CLAIM_FULL 2

/*
 * Find fp's slot, inserting it if absent; fp must already be in stored form (nonzero).
 *
 * The count is reserved (fetch-add) before the CAS that claims a slot, not after, because a
 * claimed slot cannot be given back: once another process has seen the fingerprint, it is in
 * the table.  Reserving first means the limit is never exceeded, at the price of a spurious
 * TableFull right at the threshold when several processes race for the last places.  A lost
 * CAS keeps the reservation for the next empty slot, or returns it if the winner turns out to
 * have written the same fingerprint.
 */
static inline int
claim_slot(TableObject *t, uint64_t fp, uint64_t *slot)
{
    uint64_t mask = t->capacity - 1;
    uint64_t i = home_slot(fp, mask);
    uint64_t *count = &t->header[H_COUNT];
    int reserved = 0;
    for (uint64_t n = 0; n < t->capacity; n++) {
        uint64_t *word = &t->slots[i * SLOT_WORDS + W_FP];
        uint64_t seen = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        if (seen == 0) {
            if (!reserved) {
                if (__atomic_add_fetch(count, 1, __ATOMIC_SEQ_CST) > t->limit) {
                    __atomic_sub_fetch(count, 1, __ATOMIC_SEQ_CST);
                    return CLAIM_FULL;
                }
                reserved = 1;
            }
            if (__atomic_compare_exchange_n(word, &seen, fp, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                *slot = i;
                return CLAIM_INSERTED;
            }
            /* seen now holds the fingerprint that won the slot. */
        }
        if (seen == fp) {
            if (reserved) {
                __atomic_sub_fetch(count, 1, __ATOMIC_SEQ_CST);
            }
            *slot = i;
            return CLAIM_FOUND;
        }
        i = (i + 1) & mask;
    }
    /* Unreachable while limit < capacity, kept so that a corrupt count cannot loop forever. */
    if (reserved) {
        __atomic_sub_fetch(count, 1, __ATOMIC_SEQ_CST);
    }
    return CLAIM_FULL;
}

/* One offer; returns OFFER_* or -1 when the table is full (no exception set, no change made). */
static inline int
offer_one(TableObject *t, uint64_t fp, uint64_t key, uint64_t level_base)
{
    uint64_t i;
    int claim = claim_slot(t, to_stored(fp), &i);
    if (claim == CLAIM_FULL) {
        return -1;
    }
    uint64_t *word = &t->slots[i * SLOT_WORDS + W_KEY];
    uint64_t seen = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    /* CAS-min on the key is CAS-max on its complement. */
    for (;;) {
        uint64_t stored = ~seen;
        /* Only an entry that was already there can be old: a fresh claim holds KEY_UNSET or
           keys of this level, lowered by concurrent offers. */
        if (claim == CLAIM_FOUND && stored < level_base) {
            return OFFER_OLD;
        }
        if (stored <= key) {
            return OFFER_LOST;
        }
        if (__atomic_compare_exchange_n(word, &seen, ~key, 1, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            return OFFER_BEST;
        }
    }
}

#endif
