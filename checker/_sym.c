/*
 * checker._sym: canonical fingerprints for symmetry reduction, computed in C.
 *
 * checker/symmetry.py is the specification: Symmetry._canonical (the pure-Python path) and
 * this module return bit-identical fingerprints for every state.  What is moved here is the
 * part of the work that is done per state:
 *
 *   - the plain fingerprint of each part (field) of the state, and of the state from them;
 *   - the signatures of all movable ids in a part in ONE walk: the walk carries, beside the
 *     fingerprint with every movable id hidden, one fingerprint per id that occurs below (the
 *     value with that id marked), combined the way the fingerprint combines children (tuples
 *     chain, sets and maps sum), plus whether the part is unary.  The Python path walks the
 *     part once per id instead; the values are the same word for word;
 *   - the unary orbit fingerprint (skeleton and sum of views);
 *   - for other states: sorting the ids by signature, the fully-symmetric test of tied cells
 *     and the fingerprint of the relabelled state.
 *
 * A state that needs individualisation (a tied cell that is not fully symmetric), a value of
 * an unusual type (a container subclass that overrides iteration or length, an enum that is
 * also a container, an id with an index that is not an int) or more than 64 movable ids is
 * handed to the Python path (`fallback`), so results never depend on whether this module is
 * built.  Scalars other than str, small int, None, bool, bytes and float are fingerprinted by
 * checker.fingerprint.fingerprint.
 *
 * The definition of the fingerprint is in checker/fingerprint.py's docstring.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define CHECKER_SCALAR_CONSTANTS
#include "_common.h"

#define MAX_IDS 64
#define RECURSION_WHERE " while computing a canonical fingerprint"

/* Walk results: 0 done, -1 error (exception set), UNSUPPORTED: leave it to the Python path. */
#define UNSUPPORTED 1

static inline int
lowest_bit(uint64_t mask)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(mask);
#else
    int bit = 0;
    while (!(mask & 1)) {
        mask >>= 1;
        bit++;
    }
    return bit;
#endif
}

/* Iterate the set bits of `mask` into `bit`. */
#define FOR_BITS(bit, mask)                                                                   \
    for (uint64_t bits_ = (mask); bits_ && ((bit) = lowest_bit(bits_), 1); bits_ &= bits_ - 1)

/* ------------------------------------------------------------------------------------------ */
/* Process-wide objects, loaded by the first Core.                                             */

static PyTypeObject *id_type = NULL;      /* checker.values.Id */
static PyTypeObject *map_type = NULL;     /* checker.values.Map */
static PyObject *enum_type = NULL;        /* enum.Enum */
static PyObject *leaf_fingerprint = NULL; /* checker.fingerprint.fingerprint */
static PyObject *str_dunder_name = NULL;  /* "__name__" */

/* Id, Map, enum.Enum and checker.fingerprint.fingerprint; id_type is set last, as the mark
   of success. */
static int
load_globals(void)
{
    if (id_type != NULL) {
        return 0;
    }
    if (map_type == NULL && (map_type = load_type("Map")) == NULL) {
        return -1;
    }
    if (enum_type == NULL && (enum_type = import_attr("enum", "Enum")) == NULL) {
        return -1;
    }
    if (leaf_fingerprint == NULL &&
        (leaf_fingerprint = import_attr("checker.fingerprint", "fingerprint")) == NULL) {
        return -1;
    }
    id_type = load_type("Id");
    return id_type == NULL ? -1 : 0;
}

/* checker.fingerprint.fingerprint(value), which raises the documented TypeError. */
static int
fp_leaf(PyObject *value, uint64_t *out)
{
    PyObject *result = PyObject_CallOneArg(leaf_fingerprint, value);
    if (result == NULL) {
        return -1;
    }
    unsigned long long word = PyLong_AsUnsignedLongLong(result);
    Py_DECREF(result);
    if (word == (unsigned long long)-1 && PyErr_Occurred()) {
        return -1;
    }
    *out = (uint64_t)word;
    return 0;
}

static int
fp_str(PyObject *value, uint64_t *out)
{
    Py_ssize_t size;
    const char *data = PyUnicode_AsUTF8AndSize(value, &size);
    if (data == NULL) {
        /* Lone surrogates: the reference encodes with surrogatepass. */
        PyErr_Clear();
        return fp_leaf(value, out);
    }
    *out = fnv((const unsigned char *)data, size, TAG_STR);
    return 0;
}

static inline uint64_t
fp_int(uint64_t word)
{
    return mix(word ^ mix_int);
}

/* ------------------------------------------------------------------------------------------ */
/* What to do with a value of a type that is not one of the exact builtin types.               */

enum { KIND_LEAF, KIND_ID, KIND_TUPLE, KIND_SET, KIND_DICT, KIND_UNSUPPORTED };

#define TYPE_CACHE_SIZE 64

typedef struct {
    PyTypeObject *type; /* strong reference */
    PyObject *name;     /* strong reference: the __name__ that was hashed */
    uint64_t name_fp;
    int is_enum;
} type_entry;

static type_entry type_cache[TYPE_CACHE_SIZE];

/* fingerprint(type.__name__) and whether type derives from enum.Enum, cached per type.  A
   heap type's __name__ can be reassigned: the entry is valid while ht_name is the very object
   that was hashed. */
static int
type_facts(PyTypeObject *type, uint64_t *name_fp, int *is_enum)
{
    type_entry *entry = &type_cache[((uintptr_t)type >> 4) % TYPE_CACHE_SIZE];
    int heap = (type->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0;
    if (entry->type == type && (!heap || ((PyHeapTypeObject *)type)->ht_name == entry->name)) {
        *name_fp = entry->name_fp;
        *is_enum = entry->is_enum;
        return 0;
    }
    int derived = PyObject_IsSubclass((PyObject *)type, enum_type);
    if (derived < 0) {
        return -1;
    }
    PyObject *name = PyObject_GetAttr((PyObject *)type, str_dunder_name);
    if (name == NULL) {
        return -1;
    }
    uint64_t h;
    int rc = PyUnicode_CheckExact(name) ? fp_str(name, &h) : fp_leaf(name, &h);
    if (rc < 0) {
        Py_DECREF(name);
        return -1;
    }
    *name_fp = h;
    *is_enum = derived;
    if (heap && ((PyHeapTypeObject *)type)->ht_name != name) {
        Py_DECREF(name); /* a metaclass that computes __name__: not cached */
        return 0;
    }
    PyTypeObject *old_type = entry->type;
    PyObject *old_name = entry->name;
    Py_INCREF(type);
    entry->type = type;
    entry->name = name; /* steals the reference */
    entry->name_fp = h;
    entry->is_enum = derived;
    Py_XDECREF(old_type);
    Py_XDECREF(old_name);
    return 0;
}

/* Whether `type` measures its length as `base` does (len() would call an override).  A heap
   subclass may fill both length slots with the base's one function, which is fine. */
static int
standard_length(PyTypeObject *type, PyTypeObject *base)
{
    lenfunc length = base->tp_as_sequence ? base->tp_as_sequence->sq_length : NULL;
    if (length == NULL && base->tp_as_mapping != NULL) {
        length = base->tp_as_mapping->mp_length;
    }
    lenfunc seq = type->tp_as_sequence ? type->tp_as_sequence->sq_length : NULL;
    lenfunc map = type->tp_as_mapping ? type->tp_as_mapping->mp_length : NULL;
    return (seq == NULL || seq == length) && (map == NULL || map == length);
}

/* How the walks treat `value`: KIND_LEAF with *fp its fingerprint, KIND_TUPLE with *fp the
   start of the chain, KIND_ID, KIND_SET, KIND_DICT, KIND_UNSUPPORTED; -1 on error.  The tests
   follow the reference's order: exact types first, then tuple, set and dict subclasses. */
static int
classify(PyObject *value, uint64_t *fp)
{
    PyTypeObject *type = Py_TYPE(value);
    if (type == &PyUnicode_Type) {
        return fp_str(value, fp) < 0 ? -1 : KIND_LEAF;
    }
    if (type == &PyLong_Type) {
        int overflow;
        long long small = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow) {
            return fp_leaf(value, fp) < 0 ? -1 : KIND_LEAF;
        }
        if (small == -1 && PyErr_Occurred()) {
            return -1;
        }
        *fp = fp_int((uint64_t)small);
        return KIND_LEAF;
    }
    if (type == &PyTuple_Type) {
        *fp = mix(TAG_TUPLE + (uint64_t)PyTuple_GET_SIZE(value));
        return KIND_TUPLE;
    }
    if (type == id_type) {
        return KIND_ID;
    }
    if (value == Py_None) {
        *fp = const_none;
        return KIND_LEAF;
    }
    if (type == &PyBool_Type) {
        *fp = value == Py_True ? const_true : const_false;
        return KIND_LEAF;
    }
    if (type == &PyFrozenSet_Type || type == &PySet_Type) {
        return KIND_SET;
    }
    if (type == &PyDict_Type) {
        return KIND_DICT;
    }
    if (type == &PyBytes_Type) {
        *fp = fnv((const unsigned char *)PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value),
                  TAG_BYTES);
        return KIND_LEAF;
    }
    if (type == &PyFloat_Type) {
        double d = PyFloat_AS_DOUBLE(value);
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        *fp = mix(bits ^ mix_float);
        return KIND_LEAF;
    }
    int container = PyTuple_Check(value) || PyAnySet_Check(value) || PyDict_Check(value);
    if (!container) {
        return fp_leaf(value, fp) < 0 ? -1 : KIND_LEAF;
    }
    uint64_t name_fp;
    int is_enum;
    if (type_facts(type, &name_fp, &is_enum) < 0) {
        return -1;
    }
    if (is_enum) {
        return KIND_UNSUPPORTED; /* the reference disagrees with itself on these */
    }
    if (PyTuple_Check(value)) {
        if (type->tp_iter != PyTuple_Type.tp_iter || !standard_length(type, &PyTuple_Type)) {
            return KIND_UNSUPPORTED;
        }
        *fp = mix(name_fp + (uint64_t)PyTuple_GET_SIZE(value));
        return KIND_TUPLE;
    }
    if (PyAnySet_Check(value)) {
        PyTypeObject *base = PyFrozenSet_Check(value) ? &PyFrozenSet_Type : &PySet_Type;
        if (type->tp_iter != PySet_Type.tp_iter || !standard_length(type, base)) {
            return KIND_UNSUPPORTED;
        }
        return KIND_SET;
    }
    if (!standard_length(type, &PyDict_Type)) {
        return KIND_UNSUPPORTED;
    }
    return KIND_DICT;
}

/* fingerprint of an Id whose kind is a str and index an int in 64 bits; else the leaf path. */
static int
fp_id(PyObject *value, uint64_t *out)
{
    if (PyTuple_GET_SIZE(value) == 2 && PyUnicode_CheckExact(PyTuple_GET_ITEM(value, 0)) &&
        PyLong_CheckExact(PyTuple_GET_ITEM(value, 1))) {
        int overflow;
        long long index = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(value, 1), &overflow);
        if (index == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (!overflow) {
            uint64_t kind;
            if (fp_str(PyTuple_GET_ITEM(value, 0), &kind) < 0) {
                return -1;
            }
            *out = mix(kind ^ mix((uint64_t)index + TAG_ID));
            return 0;
        }
    }
    return fp_leaf(value, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Set iteration (the reference iterates with `for element in value`).                         */

typedef struct {
    PyObject *set;
    PyObject *iterator; /* only without direct table access */
    Py_ssize_t slot;
    Py_ssize_t used;
} set_cursor;

static int
set_open(set_cursor *cursor, PyObject *set)
{
    cursor->set = set;
    cursor->slot = 0;
    cursor->iterator = NULL;
#ifndef Py_GIL_DISABLED
    cursor->used = ((PySetObject *)set)->used;
    return 0;
#else
    cursor->iterator = PyObject_GetIter(set);
    return cursor->iterator == NULL ? -1 : 0;
#endif
}

/* 1 with a new reference in *key, 0 at the end, -1 on error. */
static int
set_next(set_cursor *cursor, PyObject **key)
{
#ifndef Py_GIL_DISABLED
    /* Walk the hash table (cpython/setobject.h: a slot is active when its key is set and its
       hash is not -1), re-reading it at every step in case hashing ran Python code. */
    PySetObject *so = (PySetObject *)cursor->set;
    if (so->used != cursor->used) {
        PyErr_SetString(PyExc_RuntimeError, "Set changed size during iteration");
        return -1;
    }
    while (cursor->slot <= so->mask) {
        setentry *entry = &so->table[cursor->slot++];
        if (entry->key != NULL && entry->hash != -1) {
            Py_INCREF(entry->key);
            *key = entry->key;
            return 1;
        }
    }
    return 0;
#else
    *key = PyIter_Next(cursor->iterator);
    if (*key != NULL) {
        return 1;
    }
    return PyErr_Occurred() ? -1 : 0;
#endif
}

static void
set_close(set_cursor *cursor)
{
    Py_CLEAR(cursor->iterator);
}

/* ------------------------------------------------------------------------------------------ */
/* The Core object.                                                                            */

typedef struct {
    uint64_t key;     /* plain fingerprint of the part */
    uint64_t hidden;  /* fingerprint with every movable id hidden */
    uint64_t present; /* ids whose signature differs from hidden */
    uint64_t occurs;  /* ids that occur in the part */
    uint32_t filled;
    uint32_t unary;
    uint64_t sig[];   /* one per movable id */
} memo_entry;

typedef struct {
    uint64_t key;
    uint64_t value;
    uint64_t filled;
} cache_entry;

/* Plain fingerprints of immutable values (records, frozensets, maps, strings) by address.  A
   successor shares most of its parts with its parent (the same frozenset of messages, the
   same records), so a part that was walked before is known at once.  An entry holds a
   reference to its object, so no other object can take that address while the entry exists;
   states are immutable. */
#define VALUE_CACHE_SIZE (1 << 14)

typedef struct {
    PyObject *object;
    uint64_t fp;
    uint64_t occurs; /* the movable ids inside */
} value_entry;

/* Signatures of small immutable values (a message, an entry) by address, for values holding
   at most two movable ids: the elements of a set that gained one element are not walked
   again. */
#define SIGNATURE_CACHE_SIZE (1 << 13)

typedef struct {
    PyObject *object;
    uint64_t hidden;
    uint64_t mask;
    uint64_t sig[2]; /* of the lowest and the highest id in mask */
    int unary;
} signature_entry;

/* Ids by address: their fingerprint and position (-1: not movable).  States hold the same
   few id objects everywhere. */
#define ID_CACHE_SIZE (1 << 10)

typedef struct {
    PyObject *object;
    Py_ssize_t position;
    uint64_t fp;
} id_entry;

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;              /* movable ids */
    PyObject *positions;       /* dict: movable Id -> position */
    PyObject *fallback;        /* callable(state) -> int: the Python path */
    uint64_t id_fp[MAX_IDS];   /* fingerprint of each movable id */
    uint64_t hidden_fp[MAX_IDS];
    uint64_t marker_fp[MAX_IDS];
    uint64_t kind_fp[MAX_IDS]; /* fingerprint of the kind number of each id */
    Py_ssize_t group_end[MAX_IDS];
    Py_ssize_t groups;
    uint64_t unary_tag_fp;     /* fingerprint("unary orbit") */
    int unary_possible;
    /* The memo (part fingerprint -> memo_entry) and the cache (state fingerprint -> answer)
       are direct-mapped tables that start small and double while more than half full, up to
       their limits: a small search keeps them in the processor's caches. */
    char *memo;
    size_t memo_slots;         /* a power of two, or 0 */
    size_t memo_used;
    size_t memo_limit;
    size_t memo_stride;
    cache_entry *cache;
    size_t cache_slots;        /* a power of two, or 0 */
    size_t cache_used;
    size_t cache_limit;
    value_entry *values;       /* VALUE_CACHE_SIZE entries */
    id_entry *id_cache;        /* ID_CACHE_SIZE entries */
    signature_entry *signature_cache; /* SIGNATURE_CACHE_SIZE entries */
} Core;

static inline value_entry *
value_slot(Core *self, PyObject *value)
{
    uintptr_t address = (uintptr_t)value;
    return &self->values[((address >> 4) ^ (address >> 18)) & (VALUE_CACHE_SIZE - 1)];
}

/* Whether `value` may be in a cache keyed by address (the types never stored are skipped). */
static inline int
may_be_cached(PyObject *value)
{
    PyTypeObject *type = Py_TYPE(value);
    return type != &PyLong_Type && type != &PyTuple_Type && type != id_type &&
           type != &PyBool_Type && value != Py_None;
}

static inline void
remember(value_entry *entry, PyObject *value, uint64_t fp, uint64_t occurs)
{
    PyObject *old = entry->object;
    Py_INCREF(value);
    entry->object = value;
    entry->fp = fp;
    entry->occurs = occurs;
    Py_XDECREF(old);
}

/* Records, frozensets and maps: the immutable containers whose plain fingerprint is kept. */
static inline int
cacheable(PyObject *value, int kind)
{
    PyTypeObject *type = Py_TYPE(value);
    if (kind == KIND_TUPLE) {
        return type != &PyTuple_Type;
    }
    if (kind == KIND_SET) {
        return type == &PyFrozenSet_Type;
    }
    return type != &PyDict_Type && PyType_IsSubtype(type, map_type);
}

/* Position of a movable id, -1 when `value` is not one; UNSUPPORTED through *unsupported when
   it equals one but is spelt unusually (the Python path then decides). */
static int
position_of(Core *self, PyObject *value, Py_ssize_t *position)
{
    PyObject *found = PyDict_GetItemWithError(self->positions, value);
    if (found == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        *position = -1;
        return 0;
    }
    if (PyTuple_GET_SIZE(value) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(value, 0)) ||
        !PyLong_CheckExact(PyTuple_GET_ITEM(value, 1))) {
        return UNSUPPORTED;
    }
    *position = PyLong_AsSsize_t(found);
    return *position == -1 && PyErr_Occurred() ? -1 : 0;
}

/* The plain fingerprint and the position (-1: not movable) of an id, by address when seen. */
static int
id_facts(Core *self, PyObject *value, Py_ssize_t *position, uint64_t *fp)
{
    uintptr_t address = (uintptr_t)value;
    id_entry *entry = &self->id_cache[((address >> 4) ^ (address >> 14)) & (ID_CACHE_SIZE - 1)];
    if (entry->object == value) {
        *position = entry->position;
        *fp = entry->fp;
        return 0;
    }
    int rc = position_of(self, value, position);
    if (rc == 0) {
        rc = fp_id(value, fp);
    }
    if (rc != 0) {
        return rc;
    }
    PyObject *old = entry->object;
    Py_INCREF(value);
    entry->object = value;
    entry->position = *position;
    entry->fp = *fp;
    Py_XDECREF(old);
    return 0;
}

/* The fingerprint of a str, by address when seen (states repeat the same few strings). */
static int
str_fp(Core *self, PyObject *value, uint64_t *out)
{
    value_entry *entry = value_slot(self, value);
    if (entry->object == value) {
        *out = entry->fp;
        return 0;
    }
    if (fp_str(value, out) < 0) {
        return -1;
    }
    remember(entry, value, *out, 0);
    return 0;
}

/* Plain fingerprint (subst NULL), or with each movable id at position p hashed as subst[p],
   `moved` being the ids that subst changes.  *occurs gains the movable ids met.  A value seen
   before is answered by address: always for the plain fingerprint, and for a permuted one
   when none of its ids moves. */
static int
walk_plain(Core *self, PyObject *value, const uint64_t *subst, uint64_t moved, uint64_t *out,
           uint64_t *occurs)
{
    if (Py_IS_TYPE(value, &PyUnicode_Type)) {
        return str_fp(self, value, out);
    }
    value_entry *entry = NULL;
    if (may_be_cached(value)) {
        entry = value_slot(self, value);
        if (entry->object == value && (subst == NULL || !(entry->occurs & moved))) {
            *out = entry->fp;
            *occurs |= entry->occurs;
            return 0;
        }
    }
    uint64_t h;
    int kind = classify(value, &h);
    int rc = 0;
    switch (kind) {
    case -1:
        return -1;
    case KIND_LEAF:
        *out = h;
        return 0;
    case KIND_UNSUPPORTED:
        return UNSUPPORTED;
    case KIND_ID: {
        Py_ssize_t position;
        rc = id_facts(self, value, &position, out);
        if (rc == 0 && position >= 0) {
            *occurs |= (uint64_t)1 << position;
            if (subst != NULL) {
                *out = subst[position];
            }
        }
        return rc;
    }
    default:
        break;
    }
    if (subst != NULL || !cacheable(value, kind)) {
        entry = NULL;
    }
    if (Py_EnterRecursiveCall(RECURSION_WHERE)) {
        return -1;
    }
    uint64_t inner = 0;
    if (kind == KIND_TUPLE) {
        Py_ssize_t size = PyTuple_GET_SIZE(value);
        for (Py_ssize_t i = 0; i < size && rc == 0; i++) {
            uint64_t e = 0;
            rc = walk_plain(self, PyTuple_GET_ITEM(value, i), subst, moved, &e, &inner);
            h = mix(h ^ e);
        }
    }
    else if (kind == KIND_SET) {
        uint64_t total = 0;
        set_cursor cursor;
        rc = set_open(&cursor, value);
        PyObject *element;
        while (rc == 0) {
            int more = set_next(&cursor, &element);
            if (more <= 0) {
                rc = more;
                break;
            }
            uint64_t e = 0;
            rc = walk_plain(self, element, subst, moved, &e, &inner);
            Py_DECREF(element);
            total += mix(e ^ SET_SALT);
        }
        set_close(&cursor);
        h = mix(total ^ mix(TAG_SET + (uint64_t)PySet_GET_SIZE(value)));
    }
    else {
        uint64_t total = 0;
        Py_ssize_t pos = 0, size = PyDict_GET_SIZE(value);
        PyObject *key, *item;
        while (rc == 0 && PyDict_Next(value, &pos, &key, &item)) {
            uint64_t k = 0, v = 0;
            Py_INCREF(key);
            Py_INCREF(item);
            rc = walk_plain(self, item, subst, moved, &v, &inner);
            if (rc == 0) {
                rc = walk_plain(self, key, subst, moved, &k, &inner);
            }
            Py_DECREF(key);
            Py_DECREF(item);
            if (rc == 0 && PyDict_GET_SIZE(value) != size) {
                PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
                rc = -1;
            }
            total += mix(k ^ mix(v + PAIR_SALT));
        }
        h = mix(total ^ mix(TAG_MAP + (uint64_t)size));
    }
    Py_LeaveRecursiveCall();
    *out = h;
    *occurs |= inner;
    if (rc == 0 && entry != NULL) {
        remember(entry, value, h, inner);
    }
    return rc;
}

/* The fingerprints of one value with every movable id hidden and with each id in turn marked. */
typedef struct {
    uint64_t hidden;       /* every movable id replaced by its kind's placeholder */
    uint64_t mask;         /* the movable ids that occur */
    int unary;             /* no set element or map entry holds two of them */
    uint64_t sig[MAX_IDS]; /* for each id in mask: marked, the others hidden */
} signatures;

static int walk_signatures(Core *self, PyObject *value, signatures *out);

/* Tuples chain: h = mix(h ^ e).  An id absent so far has followed the hidden chain. */
static int
signatures_tuple(Core *self, PyObject *value, uint64_t h, signatures *out)
{
    signatures child;
    uint64_t seen = 0;
    int unary = 1;
    int bit;
    Py_ssize_t size = PyTuple_GET_SIZE(value);
    for (Py_ssize_t i = 0; i < size; i++) {
        int rc = walk_signatures(self, PyTuple_GET_ITEM(value, i), &child);
        if (rc != 0) {
            return rc;
        }
        FOR_BITS(bit, seen & ~child.mask) {
            out->sig[bit] = mix(out->sig[bit] ^ child.hidden);
        }
        FOR_BITS(bit, child.mask) {
            uint64_t before = (seen >> bit) & 1 ? out->sig[bit] : h;
            out->sig[bit] = mix(before ^ child.sig[bit]);
        }
        h = mix(h ^ child.hidden);
        seen |= child.mask;
        unary &= child.unary;
    }
    out->hidden = h;
    out->mask = seen;
    out->unary = unary;
    return 0;
}

/* Sets sum over elements: each id keeps the difference its marking makes to the sum. */
static int
signatures_set(Core *self, PyObject *value, signatures *out)
{
    signatures child;
    uint64_t seen = 0, total = 0;
    int unary = 1;
    int bit;
    set_cursor cursor;
    int rc = set_open(&cursor, value);
    PyObject *element;
    while (rc == 0) {
        int more = set_next(&cursor, &element);
        if (more <= 0) {
            rc = more;
            break;
        }
        rc = walk_signatures(self, element, &child);
        Py_DECREF(element);
        if (rc != 0) {
            break;
        }
        uint64_t plain = mix(child.hidden ^ SET_SALT);
        total += plain;
        FOR_BITS(bit, child.mask) {
            uint64_t delta = mix(child.sig[bit] ^ SET_SALT) - plain;
            out->sig[bit] = ((seen >> bit) & 1 ? out->sig[bit] : 0) + delta;
        }
        if (child.mask & (child.mask - 1)) {
            unary = 0;
        }
        unary &= child.unary;
        seen |= child.mask;
    }
    set_close(&cursor);
    if (rc != 0) {
        return rc;
    }
    uint64_t tag = mix(TAG_SET + (uint64_t)PySet_GET_SIZE(value));
    out->hidden = mix(total ^ tag);
    FOR_BITS(bit, seen) {
        out->sig[bit] = mix((total + out->sig[bit]) ^ tag);
    }
    out->mask = seen;
    out->unary = unary;
    return 0;
}

/* Maps sum over entries mix(fp(k) ^ mix(fp(v) + PAIR_SALT)), as sets do. */
static int
signatures_dict(Core *self, PyObject *value, signatures *out)
{
    signatures *children = PyMem_Malloc(2 * sizeof(signatures));
    if (children == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    signatures *k = &children[0], *v = &children[1];
    uint64_t seen = 0, total = 0;
    int unary = 1;
    int bit;
    int rc = 0;
    Py_ssize_t pos = 0, size = PyDict_GET_SIZE(value);
    PyObject *key, *item;
    while (rc == 0 && PyDict_Next(value, &pos, &key, &item)) {
        Py_INCREF(key);
        Py_INCREF(item);
        rc = walk_signatures(self, item, v);
        if (rc == 0) {
            rc = walk_signatures(self, key, k);
        }
        Py_DECREF(key);
        Py_DECREF(item);
        if (rc == 0 && PyDict_GET_SIZE(value) != size) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            rc = -1;
        }
        if (rc != 0) {
            break;
        }
        uint64_t plain = mix(k->hidden ^ mix(v->hidden + PAIR_SALT));
        total += plain;
        uint64_t both = k->mask | v->mask;
        FOR_BITS(bit, both) {
            uint64_t kb = (k->mask >> bit) & 1 ? k->sig[bit] : k->hidden;
            uint64_t vb = (v->mask >> bit) & 1 ? v->sig[bit] : v->hidden;
            uint64_t delta = mix(kb ^ mix(vb + PAIR_SALT)) - plain;
            out->sig[bit] = ((seen >> bit) & 1 ? out->sig[bit] : 0) + delta;
        }
        if (both & (both - 1)) {
            unary = 0;
        }
        unary &= k->unary & v->unary;
        seen |= both;
    }
    PyMem_Free(children);
    if (rc != 0) {
        return rc;
    }
    uint64_t tag = mix(TAG_MAP + (uint64_t)size);
    out->hidden = mix(total ^ tag);
    FOR_BITS(bit, seen) {
        out->sig[bit] = mix((total + out->sig[bit]) ^ tag);
    }
    out->mask = seen;
    out->unary = unary;
    return 0;
}

static inline signature_entry *
signature_slot(Core *self, PyObject *value)
{
    uintptr_t address = (uintptr_t)value;
    return &self->signature_cache[((address >> 4) ^ (address >> 17)) &
                                  (SIGNATURE_CACHE_SIZE - 1)];
}

static int
walk_signatures(Core *self, PyObject *value, signatures *out)
{
    out->mask = 0;
    out->unary = 1;
    if (Py_IS_TYPE(value, &PyUnicode_Type)) {
        return str_fp(self, value, &out->hidden);
    }
    signature_entry *known = NULL;
    if (may_be_cached(value)) {
        value_entry *plain = value_slot(self, value);
        if (plain->object == value && plain->occurs == 0) {
            out->hidden = plain->fp; /* no movable id inside: every signature is the plain */
            return 0;
        }
        known = signature_slot(self, value);
        if (known->object == value) {
            out->hidden = known->hidden;
            out->mask = known->mask;
            out->unary = known->unary;
            if (known->mask) {
                int low = lowest_bit(known->mask);
                out->sig[low] = known->sig[0];
                uint64_t rest = known->mask & (known->mask - 1);
                if (rest) {
                    out->sig[lowest_bit(rest)] = known->sig[1];
                }
            }
            return 0;
        }
    }
    uint64_t h;
    int kind = classify(value, &h);
    if (kind == -1) {
        return -1;
    }
    if (kind == KIND_LEAF) {
        out->hidden = h;
        return 0;
    }
    if (kind == KIND_UNSUPPORTED) {
        return UNSUPPORTED;
    }
    if (kind == KIND_ID) {
        Py_ssize_t position;
        int rc = id_facts(self, value, &position, &out->hidden);
        if (rc != 0 || position < 0) {
            return rc;
        }
        out->hidden = self->hidden_fp[position];
        out->mask = (uint64_t)1 << position;
        out->sig[position] = self->marker_fp[position];
        return 0;
    }
    if (Py_EnterRecursiveCall(RECURSION_WHERE)) {
        return -1;
    }
    int rc;
    if (kind == KIND_TUPLE) {
        rc = signatures_tuple(self, value, h, out);
    }
    else if (kind == KIND_SET) {
        rc = signatures_set(self, value, out);
    }
    else {
        rc = signatures_dict(self, value, out);
    }
    Py_LeaveRecursiveCall();
    uint64_t rest = out->mask & (out->mask - 1);
    if (rc == 0 && known != NULL && !(rest & (rest - 1)) && cacheable(value, kind)) {
        PyObject *old = known->object;
        Py_INCREF(value);
        known->object = value;
        known->hidden = out->hidden;
        known->mask = out->mask;
        known->unary = out->unary;
        known->sig[0] = out->mask ? out->sig[lowest_bit(out->mask)] : 0;
        known->sig[1] = rest ? out->sig[lowest_bit(rest)] : 0;
        Py_XDECREF(old);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Canonical fingerprints.                                                                     */

static inline memo_entry *
memo_slot(Core *self, char *table, size_t slots, uint64_t key)
{
    return (memo_entry *)(table + (key & (slots - 1)) * self->memo_stride);
}

/* Double the memo (entries that land on one slot keep the first); on no memory, keep it. */
static void
memo_grow(Core *self)
{
    size_t slots = self->memo_slots * 2;
    char *table = PyMem_Calloc(slots, self->memo_stride);
    if (table == NULL) {
        self->memo_limit = self->memo_slots;
        return;
    }
    size_t used = 0;
    for (size_t i = 0; i < self->memo_slots; i++) {
        memo_entry *old = (memo_entry *)(self->memo + i * self->memo_stride);
        memo_entry *new = memo_slot(self, table, slots, old->key);
        if (old->filled && !new->filled) {
            memcpy(new, old, self->memo_stride);
            used++;
        }
    }
    PyMem_Free(self->memo);
    self->memo = table;
    self->memo_slots = slots;
    self->memo_used = used;
}

static void
memo_store(Core *self, const memo_entry *entry)
{
    if (self->memo == NULL) {
        return;
    }
    if (self->memo_used * 2 >= self->memo_slots && self->memo_slots < self->memo_limit) {
        memo_grow(self);
    }
    memo_entry *slot = memo_slot(self, self->memo, self->memo_slots, entry->key);
    self->memo_used += !slot->filled;
    memcpy(slot, entry, self->memo_stride);
}

/* Double the cache, as memo_grow does. */
static void
cache_grow(Core *self)
{
    size_t slots = self->cache_slots * 2;
    cache_entry *table = PyMem_Calloc(slots, sizeof(cache_entry));
    if (table == NULL) {
        self->cache_limit = self->cache_slots;
        return;
    }
    size_t used = 0;
    for (size_t i = 0; i < self->cache_slots; i++) {
        cache_entry *old = &self->cache[i];
        cache_entry *new = &table[old->key & (slots - 1)];
        if (old->filled && !new->filled) {
            *new = *old;
            used++;
        }
    }
    PyMem_Free(self->cache);
    self->cache = table;
    self->cache_slots = slots;
    self->cache_used = used;
}

static void
cache_store(Core *self, uint64_t key, uint64_t value)
{
    if (self->cache_used * 2 >= self->cache_slots && self->cache_slots < self->cache_limit) {
        cache_grow(self);
    }
    cache_entry *slot = &self->cache[key & (self->cache_slots - 1)];
    self->cache_used += !slot->filled;
    slot->key = key;
    slot->value = value;
    slot->filled = 1;
}

/* What canonical forms need of one part: its memo entry, or `scratch` filled (and stored in
   the memo) on a miss. */
static int
part_info(Core *self, PyObject *part, uint64_t key, memo_entry *scratch, memo_entry **info)
{
    if (self->memo != NULL) {
        memo_entry *entry = memo_slot(self, self->memo, self->memo_slots, key);
        if (entry->filled && entry->key == key) {
            *info = entry;
            return 0;
        }
    }
    memo_entry *entry = scratch;
    signatures *walk = PyMem_Malloc(sizeof(signatures));
    if (walk == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = walk_signatures(self, part, walk);
    if (rc != 0) {
        PyMem_Free(walk);
        return rc;
    }
    entry->key = key;
    entry->hidden = walk->hidden;
    entry->unary = (uint32_t)walk->unary;
    entry->present = 0;
    entry->occurs = walk->mask;
    for (Py_ssize_t p = 0; p < self->n; p++) {
        uint64_t sig = (walk->mask >> p) & 1 ? walk->sig[p] : walk->hidden;
        entry->sig[p] = sig;
        if (sig != walk->hidden) {
            entry->present |= (uint64_t)1 << p;
        }
    }
    entry->filled = 1;
    PyMem_Free(walk);
    memo_store(self, entry);
    *info = entry;
    return 0;
}

/* Signature of id `a` before id `b`: lexicographic over the parts' signed words. */
static int
signature_less(const uint64_t *vectors, Py_ssize_t count, Py_ssize_t n, Py_ssize_t a,
               Py_ssize_t b)
{
    for (Py_ssize_t v = 0; v < count; v++) {
        int64_t x = (int64_t)vectors[v * n + a], y = (int64_t)vectors[v * n + b];
        if (x != y) {
            return x < y;
        }
    }
    return a < b;
}

static int
same_signature(const uint64_t *vectors, Py_ssize_t count, Py_ssize_t n, Py_ssize_t a,
               Py_ssize_t b)
{
    for (Py_ssize_t v = 0; v < count; v++) {
        if (vectors[v * n + a] != vectors[v * n + b]) {
            return 0;
        }
    }
    return 1;
}

/* A state split into parts, with what is known of each part. */
typedef struct {
    PyObject *state;
    PyObject *const *parts;
    Py_ssize_t count;
    int split;          /* a tuple or record: its items are the parts */
    uint64_t start;     /* the start of its fingerprint chain, when split */
    uint64_t base;      /* its plain fingerprint */
    uint64_t *keys;     /* plain fingerprint of each part */
    uint64_t *occurs;   /* movable ids occurring in each part */
} state_view;

/* The fingerprint of the state with each movable id at position p hashed as subst[p]; only
   the parts where an id in `moved` occurs are walked again. */
static int
permuted_fingerprint(Core *self, const state_view *view, const uint64_t *subst, uint64_t moved,
                     uint64_t *out)
{
    uint64_t h = view->start;
    for (Py_ssize_t i = 0; i < view->count; i++) {
        uint64_t e = view->keys[i];
        if (view->occurs[i] & moved) {
            uint64_t ignored = 0;
            int rc = walk_plain(self, view->parts[i], subst, moved, &e, &ignored);
            if (rc != 0) {
                return rc;
            }
        }
        if (!view->split) {
            *out = e;
            return 0;
        }
        h = mix(h ^ e);
    }
    *out = h;
    return 0;
}

/* Whether every permutation of the ids `cell` leaves the state unchanged: a transposition and
   a full cycle generate them all. */
static int
fully_symmetric(Core *self, const state_view *view, const Py_ssize_t *cell, Py_ssize_t size,
                int *symmetric)
{
    uint64_t subst[MAX_IDS];
    uint64_t h, moved = 0;
    memcpy(subst, self->id_fp, sizeof(uint64_t) * (size_t)self->n);
    for (Py_ssize_t i = 0; i < size; i++) {
        moved |= (uint64_t)1 << cell[i];
    }
    subst[cell[0]] = self->id_fp[cell[1]];
    subst[cell[1]] = self->id_fp[cell[0]];
    int rc = permuted_fingerprint(self, view, subst, moved, &h);
    if (rc != 0) {
        return rc;
    }
    if (h != view->base || size == 2) {
        *symmetric = h == view->base;
        return 0;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        subst[cell[i]] = self->id_fp[cell[(i + 1) % size]];
    }
    rc = permuted_fingerprint(self, view, subst, moved, &h);
    if (rc != 0) {
        return rc;
    }
    *symmetric = h == view->base;
    return 0;
}

/* The general path, given the signatures of the parts that hold ids (`count` rows of n):
   sort each kind's ids by signature, check that tied cells are fully symmetric, and hash the
   state relabelled in that order. */
static int
general_fingerprint(Core *self, const state_view *view, const uint64_t *vectors,
                    Py_ssize_t count, uint64_t present, uint64_t *out)
{
    Py_ssize_t n = self->n;
    Py_ssize_t order[MAX_IDS];
    char cell_start[MAX_IDS];
    int tied = 0;
    Py_ssize_t start = 0;
    for (Py_ssize_t g = 0; g < self->groups; g++) {
        Py_ssize_t end = self->group_end[g];
        for (Py_ssize_t i = start; i < end; i++) {
            Py_ssize_t j = i;
            while (j > start && signature_less(vectors, count, n, i, order[j - 1])) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
        for (Py_ssize_t i = start; i < end; i++) {
            cell_start[i] = i == start ||
                            !same_signature(vectors, count, n, order[i], order[i - 1]);
            tied |= !cell_start[i];
        }
        start = end;
    }
    if (tied) {
        for (Py_ssize_t i = 0; i < n;) {
            Py_ssize_t end = i + 1;
            uint64_t cell_mask = (uint64_t)1 << order[i];
            while (end < n && !cell_start[end]) {
                cell_mask |= (uint64_t)1 << order[end];
                end++;
            }
            if (end - i > 1 && (cell_mask & present)) {
                int symmetric;
                int rc = fully_symmetric(self, view, order + i, end - i, &symmetric);
                if (rc != 0) {
                    return rc;
                }
                if (!symmetric) {
                    return UNSUPPORTED; /* individualisation: the Python path searches */
                }
            }
            i = end;
        }
    }
    uint64_t subst[MAX_IDS];
    uint64_t moved = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        subst[order[i]] = self->id_fp[i];
        if (order[i] != i) {
            moved |= (uint64_t)1 << order[i];
        }
    }
    if (moved == 0) {
        *out = view->base;
        return 0;
    }
    return permuted_fingerprint(self, view, subst, moved, out);
}

/* The canonical fingerprint of a state whose parts' plain fingerprints are known. */
static int
canonical_of_parts(Core *self, state_view *view, uint64_t *out)
{
    Py_ssize_t n = self->n, count = view->count;
    size_t stride = self->memo_stride;
    /* One block: the skeleton words, the signature rows of the parts that hold ids, and a
       memo entry to work in when there is no memo. */
    size_t words = (size_t)count + (size_t)count * (size_t)n;
    char *block = PyMem_Malloc(words * sizeof(uint64_t) + stride);
    if (block == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    uint64_t *skeleton = (uint64_t *)block;
    uint64_t *vectors = skeleton + count;
    memo_entry *scratch = (memo_entry *)(block + words * sizeof(uint64_t));
    Py_ssize_t rows = 0;
    uint64_t present = 0;
    int unary = 1;
    int rc = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        memo_entry *info;
        uint64_t key = view->keys[i];
        rc = part_info(self, view->parts[i], key, scratch, &info);
        if (rc != 0) {
            break;
        }
        view->occurs[i] = info->occurs;
        if (info->hidden == key) {
            skeleton[i] = key;
            continue;
        }
        skeleton[i] = info->hidden;
        memcpy(vectors + rows * n, info->sig, sizeof(uint64_t) * (size_t)n);
        rows++;
        present |= info->present;
        unary &= self->unary_possible && info->unary;
    }
    if (rc == 0 && unary) {
        /* fingerprint((_UNARY, type(state).__name__, skeleton, sum of views)), a view being
           the tuple (kind number, signature in each part that holds ids). */
        uint64_t name_fp;
        int is_enum;
        rc = type_facts(Py_TYPE(view->state), &name_fp, &is_enum);
        if (rc == 0) {
            uint64_t views = 0;
            for (Py_ssize_t p = 0; p < n; p++) {
                uint64_t one = mix(mix(TAG_TUPLE + 1 + (uint64_t)rows) ^ self->kind_fp[p]);
                for (Py_ssize_t r = 0; r < rows; r++) {
                    one = mix(one ^ fp_int(vectors[r * n + p]));
                }
                views += one;
            }
            uint64_t shape = mix(TAG_TUPLE + (uint64_t)count);
            for (Py_ssize_t i = 0; i < count; i++) {
                shape = mix(shape ^ fp_int(skeleton[i]));
            }
            uint64_t h = mix(TAG_TUPLE + 4);
            h = mix(h ^ self->unary_tag_fp);
            h = mix(h ^ name_fp);
            h = mix(h ^ shape);
            *out = mix(h ^ fp_int(views));
        }
    }
    else if (rc == 0) {
        rc = general_fingerprint(self, view, vectors, rows, present, out);
    }
    PyMem_Free(block);
    return rc;
}

/* The Python path's answer for `state` in *out. */
static int
fallback(Core *self, PyObject *state, uint64_t *out)
{
    PyObject *answer = PyObject_CallOneArg(self->fallback, state);
    if (answer == NULL) {
        return -1;
    }
    unsigned long long word = PyLong_AsUnsignedLongLong(answer);
    Py_DECREF(answer);
    if (word == (unsigned long long)-1 && PyErr_Occurred()) {
        return -1;
    }
    *out = (uint64_t)word;
    return 0;
}

/* The canonical fingerprint of `state` in *out, through the cache when `cached`. */
static int
canonical(Core *self, PyObject *state, int cached, uint64_t *out)
{
    state_view view = {state, &state, 1, 0, 0, 0, NULL, NULL};
    if (PyTuple_Check(state) && Py_TYPE(state) != id_type) {
        int kind = classify(state, &view.start);
        if (kind != KIND_TUPLE) {
            return kind == -1 ? -1 : fallback(self, state, out);
        }
        view.split = 1;
        view.parts = &PyTuple_GET_ITEM(state, 0);
        view.count = PyTuple_GET_SIZE(state);
    }
    uint64_t local[2 * 16];
    uint64_t *words = local;
    if (view.count > 16) {
        words = PyMem_Malloc(2 * sizeof(uint64_t) * (size_t)view.count);
        if (words == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    view.keys = words;
    view.occurs = words + view.count;
    int rc = 0;
    uint64_t h = view.start;
    for (Py_ssize_t i = 0; i < view.count && rc == 0; i++) {
        uint64_t ignored = 0;
        rc = walk_plain(self, view.parts[i], NULL, 0, &view.keys[i], &ignored);
        h = mix(h ^ view.keys[i]);
    }
    view.base = view.split ? h : view.keys[0];
    int store = 0;
    if (rc == 0 && cached && self->cache != NULL) {
        cache_entry *slot = &self->cache[view.base & (self->cache_slots - 1)];
        if (slot->filled && slot->key == view.base) {
            *out = slot->value;
            rc = 2; /* answered */
        }
        else {
            store = 1;
        }
    }
    if (rc == 0) {
        rc = canonical_of_parts(self, &view, out);
    }
    if (words != local) {
        PyMem_Free(words);
    }
    if (rc == UNSUPPORTED) {
        rc = fallback(self, state, out);
    }
    if (rc == 0 && store) {
        cache_store(self, view.base, *out);
    }
    return rc == 2 ? 0 : rc;
}

/* canonical(), with the Python path for what it leaves (and an int object as the answer). */
static PyObject *
core_compute(Core *self, PyObject *state, int cached)
{
    uint64_t result;
    int rc;
#ifdef Py_GIL_DISABLED
    Py_BEGIN_CRITICAL_SECTION(self);
#endif
    rc = canonical(self, state, cached, &result);
#ifdef Py_GIL_DISABLED
    Py_END_CRITICAL_SECTION();
#endif
    if (rc < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(result);
}

static PyObject *
core_fingerprint(Core *self, PyObject *state)
{
    return core_compute(self, state, 1);
}

static PyObject *
core_canonical(Core *self, PyObject *state)
{
    return core_compute(self, state, 0);
}

/* A tuple of exactly n ints as 64-bit words. */
static int
read_words(PyObject *tuple, Py_ssize_t n, const char *what, uint64_t *words)
{
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != n) {
        PyErr_Format(PyExc_TypeError, "Core: %s must be a tuple of %zd ints", what, n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyLong_Check(item)) {
            PyErr_Format(PyExc_TypeError, "Core: %s must hold ints, not %.200s", what,
                         Py_TYPE(item)->tp_name);
            return -1;
        }
        unsigned long long word = PyLong_AsUnsignedLongLongMask(item);
        if (word == (unsigned long long)-1 && PyErr_Occurred()) {
            return -1;
        }
        words[i] = (uint64_t)word;
    }
    return 0;
}

static size_t
power_of_two_at_most(size_t limit)
{
    size_t size = 1;
    while (size * 2 <= limit) {
        size *= 2;
    }
    return size;
}

#define MEMO_BYTES_MAX ((size_t)16 << 20)
#define FIRST_SLOTS ((size_t)1 << 10)

static PyObject *
core_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"movable", "id_fps", "hidden_fps", "marker_fps", "kind_fps",
                            "group_sizes", "unary_tag_fp", "fallback", "memo_size",
                            "cache_size", "unary_possible", NULL};
    PyObject *movable, *id_fps, *hidden_fps, *marker_fps, *kind_fps, *group_sizes, *unary_tag;
    PyObject *fallback;
    Py_ssize_t memo_size, cache_size;
    int unary_possible;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOOOO!OOnnp:Core", names,
                                     &PyTuple_Type, &movable, &id_fps, &hidden_fps,
                                     &marker_fps, &kind_fps, &PyTuple_Type, &group_sizes,
                                     &unary_tag, &fallback, &memo_size, &cache_size,
                                     &unary_possible)) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(movable);
    if (n < 1 || n > MAX_IDS) {
        PyErr_Format(PyExc_TypeError, "Core: between 1 and %d movable ids, not %zd", MAX_IDS, n);
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "Core: fallback must be callable");
        return NULL;
    }
    if (load_globals() < 0) {
        return NULL;
    }
    Core *self = (Core *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->n = n;
    self->unary_possible = unary_possible;
    self->fallback = Py_NewRef(fallback);
    self->positions = PyDict_New();
    if (self->positions == NULL) {
        goto error;
    }
    for (Py_ssize_t p = 0; p < n; p++) {
        PyObject *item = PyTuple_GET_ITEM(movable, p);
        if (!Py_IS_TYPE(item, id_type)) {
            PyErr_Format(PyExc_TypeError, "Core: movable ids must be Id, not %.200s",
                         Py_TYPE(item)->tp_name);
            goto error;
        }
        PyObject *position = PyLong_FromSsize_t(p);
        if (position == NULL) {
            goto error;
        }
        int rc = PyDict_SetItem(self->positions, item, position);
        Py_DECREF(position);
        if (rc < 0) {
            goto error;
        }
    }
    if (PyDict_GET_SIZE(self->positions) != n) {
        PyErr_SetString(PyExc_TypeError, "Core: movable ids must be distinct");
        goto error;
    }
    if (read_words(id_fps, n, "id_fps", self->id_fp) < 0 ||
        read_words(hidden_fps, n, "hidden_fps", self->hidden_fp) < 0 ||
        read_words(marker_fps, n, "marker_fps", self->marker_fp) < 0 ||
        read_words(kind_fps, n, "kind_fps", self->kind_fp) < 0) {
        goto error;
    }
    Py_ssize_t groups = PyTuple_GET_SIZE(group_sizes), end = 0;
    if (groups > MAX_IDS) {
        PyErr_SetString(PyExc_TypeError, "Core: group_sizes must add up to the movable ids");
        goto error;
    }
    for (Py_ssize_t g = 0; g < groups; g++) {
        Py_ssize_t size = PyLong_AsSsize_t(PyTuple_GET_ITEM(group_sizes, g));
        if (size == -1 && PyErr_Occurred()) {
            goto error;
        }
        if (size < 1 || end + size > n) {
            PyErr_SetString(PyExc_TypeError, "Core: group_sizes must add up to the movable ids");
            goto error;
        }
        end += size;
        self->group_end[g] = end;
    }
    if (end != n) {
        PyErr_SetString(PyExc_TypeError, "Core: group_sizes must add up to the movable ids");
        goto error;
    }
    self->groups = groups;
    if (!PyLong_Check(unary_tag)) {
        PyErr_SetString(PyExc_TypeError, "Core: unary_tag_fp must be an int");
        goto error;
    }
    self->unary_tag_fp = (uint64_t)PyLong_AsUnsignedLongLongMask(unary_tag);
    if (PyErr_Occurred()) {
        goto error;
    }
    self->memo_stride = sizeof(memo_entry) + sizeof(uint64_t) * (size_t)n;
    if (memo_size > 0) {
        size_t limit = power_of_two_at_most((size_t)memo_size);
        while (limit > 1 && limit * self->memo_stride > MEMO_BYTES_MAX) {
            limit /= 2;
        }
        size_t slots = limit < FIRST_SLOTS ? limit : FIRST_SLOTS;
        self->memo = PyMem_Calloc(slots, self->memo_stride);
        if (self->memo == NULL) {
            PyErr_NoMemory();
            goto error;
        }
        self->memo_slots = slots;
        self->memo_limit = limit;
    }
    self->values = PyMem_Calloc(VALUE_CACHE_SIZE, sizeof(value_entry));
    self->id_cache = PyMem_Calloc(ID_CACHE_SIZE, sizeof(id_entry));
    self->signature_cache = PyMem_Calloc(SIGNATURE_CACHE_SIZE, sizeof(signature_entry));
    if (self->values == NULL || self->id_cache == NULL || self->signature_cache == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    if (cache_size > 0) {
        size_t limit = power_of_two_at_most((size_t)cache_size);
        size_t slots = limit < FIRST_SLOTS ? limit : FIRST_SLOTS;
        self->cache = PyMem_Calloc(slots, sizeof(cache_entry));
        if (self->cache == NULL) {
            PyErr_NoMemory();
            goto error;
        }
        self->cache_slots = slots;
        self->cache_limit = limit;
    }
    return (PyObject *)self;
error:
    Py_DECREF(self);
    return NULL;
}

static int
core_traverse(Core *self, visitproc visit, void *arg)
{
    Py_VISIT(self->positions);
    Py_VISIT(self->fallback);
    if (self->values != NULL) {
        for (size_t i = 0; i < VALUE_CACHE_SIZE; i++) {
            Py_VISIT(self->values[i].object);
        }
    }
    if (self->id_cache != NULL) {
        for (size_t i = 0; i < ID_CACHE_SIZE; i++) {
            Py_VISIT(self->id_cache[i].object);
        }
    }
    if (self->signature_cache != NULL) {
        for (size_t i = 0; i < SIGNATURE_CACHE_SIZE; i++) {
            Py_VISIT(self->signature_cache[i].object);
        }
    }
    return 0;
}

static int
core_clear(Core *self)
{
    Py_CLEAR(self->positions);
    Py_CLEAR(self->fallback);
    if (self->values != NULL) {
        for (size_t i = 0; i < VALUE_CACHE_SIZE; i++) {
            Py_CLEAR(self->values[i].object);
        }
    }
    if (self->id_cache != NULL) {
        for (size_t i = 0; i < ID_CACHE_SIZE; i++) {
            Py_CLEAR(self->id_cache[i].object);
        }
    }
    if (self->signature_cache != NULL) {
        for (size_t i = 0; i < SIGNATURE_CACHE_SIZE; i++) {
            Py_CLEAR(self->signature_cache[i].object);
        }
    }
    return 0;
}

static void
core_dealloc(Core *self)
{
    PyObject_GC_UnTrack(self);
    core_clear(self);
    PyMem_Free(self->memo);
    PyMem_Free(self->cache);
    PyMem_Free(self->values);
    PyMem_Free(self->id_cache);
    PyMem_Free(self->signature_cache);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
core_get_unary_possible(Core *self, void *closure)
{
    return PyBool_FromLong(self->unary_possible);
}

/* Changing it invalidates nothing: the memo keeps each part's own verdict. */
static int
core_set_unary_possible(Core *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "cannot delete unary_possible");
        return -1;
    }
    int truth = PyObject_IsTrue(value);
    if (truth < 0) {
        return -1;
    }
    self->unary_possible = truth;
    return 0;
}

static PyGetSetDef core_getset[] = {
    {"unary_possible", (getter)core_get_unary_possible, (setter)core_set_unary_possible,
     "False: every state takes the general path (some sampled state was not unary).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef core_methods[] = {
    {"fingerprint", (PyCFunction)core_fingerprint, METH_O,
     "fingerprint(state, /) -> int\n\nThe canonical fingerprint, answered from the cache "
     "(keyed by the plain fingerprint) when the state was seen."},
    {"canonical", (PyCFunction)core_canonical, METH_O,
     "canonical(state, /) -> int\n\nThe canonical fingerprint, without the cache."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Core_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "checker._sym.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Canonical fingerprints of one Symmetry (see checker/symmetry.py).",
    .tp_new = core_new,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_methods = core_methods,
    .tp_getset = core_getset,
};

static struct PyModuleDef sym_module = {
    PyModuleDef_HEAD_INIT,
    "checker._sym",
    "C implementation of the canonical fingerprints of checker.symmetry.",
    -1,
    NULL,
};

PyMODINIT_FUNC
PyInit__sym(void)
{
    init_scalar_constants();
    if (str_dunder_name == NULL) {
        str_dunder_name = PyUnicode_InternFromString("__name__");
        if (str_dunder_name == NULL) {
            return NULL;
        }
    }
    if (PyType_Ready(&Core_Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&sym_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&Core_Type);
    if (PyModule_AddObject(module, "Core", (PyObject *)&Core_Type) < 0) {
        Py_DECREF(&Core_Type);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
