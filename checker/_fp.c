/*
 * checker._fp: C implementation of checker.fingerprint.fingerprint_python.
 *
 * The pure-Python function in checker/fingerprint.py is the specification; this module must
 * return bit-identical 64-bit values for every value it accepts.  Types are tested in the same
 * order as the reference (exact types first, then tuple, dict, set and Enum subclasses; the
 * reference tests sets before dicts, but no type is both), and anything the fast paths do not
 * recognise is handed back to the reference, which raises the documented TypeError.
 *
 * fingerprint_permuted(value, permutation) is the same function, except that every Id (exact
 * type) met anywhere inside value that is a key of the dict `permutation` is replaced by its
 * image before it is hashed.  The image itself is hashed as is (it is not permuted again).
 * Sets and maps are hashed as sums over their elements, so the result equals the fingerprint
 * of the rebuilt value only when the permutation is injective on the ids involved (as a
 * permutation is): two elements that the mapping merges are still counted twice.
 *
 * A Map keeps the sum over its entries that its fingerprint is made of (MapObject in
 * _common.h): computed once, or derived from three values when the map was made by changing
 * one key of a map whose sum was known, as a successor's map is made from its parent's.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define CHECKER_SCALAR_CONSTANTS
#include "_common.h"
#include "_table.h"

#define RECURSION_WHERE " while computing a fingerprint"

/* ------------------------------------------------------------------------------------------ */
/* Lazily loaded Python objects (single-phase init: one copy per process).                     */

static PyTypeObject *id_type = NULL;     /* checker.values.Id */
static PyTypeObject *record_type = NULL; /* checker.values.Record */
static PyTypeObject *map_type = NULL;    /* checker.values.Map */
static int map_sums = 0;                 /* whether Map derives from the C MapBase */
static PyObject *enum_type = NULL;       /* enum.Enum */
static PyObject *reference = NULL;       /* checker.fingerprint.fingerprint_python */
static PyObject *str_name = NULL;        /* "name" */
static PyObject *str_dunder_name = NULL; /* "__name__" */
static PyObject *table_type = NULL;      /* checker._table.Table; None without that module */

/* Whether maps remember their fingerprint sums: Map must derive from checker._values.MapBase
   (absent without C extensions) with the layout of MapObject that this module was built with. */
static int
load_map_base(void)
{
#if MAP_FP_SUMS
    PyObject *base = import_attr("checker._values", "MapBase");
    if (base == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ImportError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    map_sums = PyType_Check(base) && PyType_IsSubtype(map_type, (PyTypeObject *)base) &&
               ((PyTypeObject *)base)->tp_basicsize == (Py_ssize_t)sizeof(MapObject);
    Py_DECREF(base);
#endif
    return 0;
}

/* Id, Record and Map from checker.values; id_type is set last, as the mark of success. */
static int
load_id_type(void)
{
    if (record_type == NULL && (record_type = load_type("Record")) == NULL) {
        return -1;
    }
    if (map_type == NULL && (map_type = load_type("Map")) == NULL) {
        return -1;
    }
    if (load_map_base() < 0) {
        return -1;
    }
    id_type = load_type("Id");
    return id_type == NULL ? -1 : 0;
}

static PyObject *
get_enum_type(void)
{
    if (enum_type == NULL) {
        enum_type = import_attr("enum", "Enum");
    }
    return enum_type;
}

/* ------------------------------------------------------------------------------------------ */
/* Cache of fingerprints of record class names, keyed by type (direct-mapped, strong refs).    */

#define NAME_CACHE_SIZE 64

typedef struct {
    PyTypeObject *type;
    PyObject *name;
    uint64_t fp;
} name_entry;

static name_entry name_cache[NAME_CACHE_SIZE];

static int fp_value(PyObject *value, PyObject *perm, uint64_t *out);

/* fingerprint(type(value).__name__) */
static int
type_name_fp(PyTypeObject *type, uint64_t *out)
{
    name_entry *entry = &name_cache[((uintptr_t)type >> 4) % NAME_CACHE_SIZE];
    int heap = (type->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0;
    if (entry->type == type &&
        (!heap || ((PyHeapTypeObject *)type)->ht_name == entry->name)) {
        *out = entry->fp;
        return 0;
    }
    PyObject *name = PyObject_GetAttr((PyObject *)type, str_dunder_name);
    if (name == NULL) {
        return -1;
    }
    uint64_t h;
    if (fp_value(name, NULL, &h) < 0) {
        Py_DECREF(name);
        return -1;
    }
    *out = h;
    /* A heap type's __name__ can be reassigned: the entry stays valid while ht_name is the very
       object we hashed.  (A metaclass that overrides __name__ is simply not cached.) */
    if (heap && ((PyHeapTypeObject *)type)->ht_name != name) {
        Py_DECREF(name);
        return 0;
    }
    PyTypeObject *old_type = entry->type;
    PyObject *old_name = entry->name;
    Py_INCREF(type);
    entry->type = type;
    entry->name = name; /* steals the reference */
    entry->fp = h;
    Py_XDECREF(old_type);
    Py_XDECREF(old_name);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Cache of fingerprints of immutable values, keyed by address (direct-mapped, strong refs).   */
/*                                                                                             */
/* A successor shares most of its parts with its parent (the same frozenset of messages, the   */
/* same per-node records), so the fingerprints of strings, ids, records and frozensets nested  */
/* in a state are remembered by object (maps with the C base keep their own sums and skip this */
/* cache).  An entry holds a reference to its object, so no other object can have              */
/* that address while the entry exists; the values cached are immutable (a state may not be    */
/* changed in place, see docs/modeling.md).  Only unpermuted fingerprints are cached, and      */
/* never the top-level value, which is new in nearly every call.                               */

#ifndef Py_GIL_DISABLED
#define VALUE_CACHE_SIZE (1 << 14)

typedef struct {
    PyObject *object;
    uint64_t fp;
} value_entry;

static value_entry value_cache[VALUE_CACHE_SIZE];
static PyObject *top_value = NULL; /* the argument of the running fingerprint() call */

static inline value_entry *
cache_slot(PyObject *value)
{
    return &value_cache[address_index(value, VALUE_CACHE_SIZE)];
}

static inline void
cache_store(value_entry *entry, PyObject *value, uint64_t fp)
{
    if (value == top_value) {
        return;
    }
    address_hold(&entry->object, value);
    entry->fp = fp;
}
#endif

/* Compute fingerprint `*out` of `value` with `compute`, through the cache when perm is NULL. */
static inline int
fp_cached(int (*compute)(PyObject *, PyObject *, uint64_t *), PyObject *value, PyObject *perm,
          uint64_t *out)
{
#ifndef Py_GIL_DISABLED
    if (perm == NULL) {
        value_entry *entry = cache_slot(value);
        if (entry->object == value) {
            *out = entry->fp;
            return 0;
        }
        if (compute(value, NULL, out) < 0) {
            return -1;
        }
        cache_store(cache_slot(value), value, *out);
        return 0;
    }
#endif
    return compute(value, perm, out);
}

/* Whether `type` is a subclass of `base` (record_type or map_type), remembering the last
   type that was: a state holds few record classes, each met at nearly every call.  (A class
   whose __bases__ are reassigned afterwards keeps its answer.) */
static inline int
is_subtype_of(PyTypeObject *type, PyTypeObject *base, PyTypeObject **last)
{
    if (type == *last) {
        return 1;
    }
    if (!PyType_IsSubtype(type, base)) {
        return 0;
    }
    /* A strong reference, so that no other type can take this address. */
    Py_INCREF(type);
    Py_XSETREF(*last, type);
    return 1;
}

static PyTypeObject *last_record_type = NULL;
static PyTypeObject *last_map_type = NULL;

/* ------------------------------------------------------------------------------------------ */
/* Scalars.                                                                                    */

static int
fp_bigint(PyObject *value, uint64_t *out)
{
    /* size = (value.bit_length() + 8) // 8; value.to_bytes(size, "little", signed=True) */
    PyObject *bits = PyObject_CallMethod(value, "bit_length", NULL);
    if (bits == NULL) {
        return -1;
    }
    Py_ssize_t nbits = PyLong_AsSsize_t(bits);
    Py_DECREF(bits);
    if (nbits < 0 && PyErr_Occurred()) {
        return -1;
    }
    Py_ssize_t size = (nbits + 8) / 8;
    PyObject *to_bytes = PyObject_GetAttrString(value, "to_bytes");
    if (to_bytes == NULL) {
        return -1;
    }
    PyObject *args = Py_BuildValue("(ns)", size, "little");
    PyObject *kwargs = Py_BuildValue("{s:O}", "signed", Py_True);
    PyObject *data = NULL;
    if (args != NULL && kwargs != NULL) {
        data = PyObject_Call(to_bytes, args, kwargs);
    }
    Py_DECREF(to_bytes);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    if (data == NULL) {
        return -1;
    }
    if (!PyBytes_Check(data)) {
        Py_DECREF(data);
        PyErr_SetString(PyExc_TypeError, "int.to_bytes did not return bytes");
        return -1;
    }
    *out = fnv((const unsigned char *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data),
               TAG_BIGINT);
    Py_DECREF(data);
    return 0;
}

static int
fp_str(PyObject *value, uint64_t *out)
{
    if (PyUnicode_IS_COMPACT_ASCII(value)) {
        /* ASCII is its own UTF-8: hash the characters in place. */
        *out = fnv((const unsigned char *)PyUnicode_DATA(value), PyUnicode_GET_LENGTH(value),
                   TAG_STR);
        return 0;
    }
    Py_ssize_t size;
    const char *data = PyUnicode_AsUTF8AndSize(value, &size);
    if (data != NULL) {
        *out = fnv((const unsigned char *)data, size, TAG_STR);
        return 0;
    }
    /* Lone surrogates: value.encode("utf-8", "surrogatepass"). */
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        return -1;
    }
    PyErr_Clear();
    PyObject *encoded = PyUnicode_AsEncodedString(value, "utf-8", "surrogatepass");
    if (encoded == NULL) {
        return -1;
    }
    *out = fnv((const unsigned char *)PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded),
               TAG_STR);
    Py_DECREF(encoded);
    return 0;
}

/* (index + TAG_ID) & MASK for the index of an Id. */
static int
id_index_word(PyObject *index, uint64_t *out)
{
    if (Py_IS_TYPE(index, &PyLong_Type) || Py_IS_TYPE(index, &PyBool_Type)) {
        unsigned long long word = PyLong_AsUnsignedLongLongMask(index);
        if (word == (unsigned long long)-1 && PyErr_Occurred()) {
            return -1;
        }
        *out = (uint64_t)word + TAG_ID;
        return 0;
    }
    /* Anything else: evaluate the Python expression literally. */
    PyObject *tag = PyLong_FromUnsignedLong(TAG_ID);
    if (tag == NULL) {
        return -1;
    }
    PyObject *sum = PyNumber_Add(index, tag);
    Py_DECREF(tag);
    if (sum == NULL) {
        return -1;
    }
    PyObject *mask = PyLong_FromUnsignedLongLong(UINT64_MAX);
    if (mask == NULL) {
        Py_DECREF(sum);
        return -1;
    }
    PyObject *masked = PyNumber_And(sum, mask);
    Py_DECREF(sum);
    Py_DECREF(mask);
    if (masked == NULL) {
        return -1;
    }
    unsigned long long word = PyLong_AsUnsignedLongLong(masked);
    Py_DECREF(masked);
    if (word == (unsigned long long)-1 && PyErr_Occurred()) {
        return -1;
    }
    *out = (uint64_t)word;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Containers.                                                                                 */

static int
fp_id(PyObject *value, uint64_t *out)
{
    if (PyTuple_GET_SIZE(value) < 2) {
        PyErr_SetString(PyExc_IndexError, "tuple index out of range");
        return -1;
    }
    uint64_t kind, word;
    if (fp_value(PyTuple_GET_ITEM(value, 0), NULL, &kind) < 0) {
        return -1;
    }
    if (id_index_word(PyTuple_GET_ITEM(value, 1), &word) < 0) {
        return -1;
    }
    *out = mix(kind ^ mix(word));
    return 0;
}

/* fp_str in the signature of fp_cached: the strings of a state (a node's mode, a phase) are
   mostly the model's own constants, met at nearly every fingerprint. */
static int
fp_str_unpermuted(PyObject *value, PyObject *perm, uint64_t *out)
{
    return fp_str(value, out);
}

static int
fp_id_unpermuted(PyObject *value, PyObject *perm, uint64_t *out)
{
    return fp_id(value, out);
}

static int
fp_tuple_items(PyObject *value, uint64_t h, PyObject *perm, uint64_t *out)
{
    Py_ssize_t n = PyTuple_GET_SIZE(value);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t e;
        if (fp_value(PyTuple_GET_ITEM(value, i), perm, &e) < 0) {
            return -1;
        }
        h = mix(h ^ e);
    }
    *out = h;
    return 0;
}

/* Generic `for element in value: h = mix(h ^ fp(element))`, for overridden __iter__. */
static int
fp_iter_chain(PyObject *value, uint64_t h, PyObject *perm, uint64_t *out)
{
    PyObject *it = PyObject_GetIter(value);
    if (it == NULL) {
        return -1;
    }
    PyObject *element;
    while ((element = PyIter_Next(it)) != NULL) {
        uint64_t e;
        int rc = fp_value(element, perm, &e);
        Py_DECREF(element);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
        h = mix(h ^ e);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return -1;
    }
    *out = h;
    return 0;
}

static int
fp_tuple_subclass(PyObject *value, PyObject *perm, uint64_t *out)
{
    PyTypeObject *type = Py_TYPE(value);
    uint64_t name;
    if (type_name_fp(type, &name) < 0) {
        return -1;
    }
    Py_ssize_t n = PyObject_Size(value);
    if (n < 0) {
        return -1;
    }
    uint64_t h = mix(name + (uint64_t)n);
    if (type->tp_iter == PyTuple_Type.tp_iter) {
        return fp_tuple_items(value, h, perm, out);
    }
    return fp_iter_chain(value, h, perm, out);
}

static int
fp_set(PyObject *value, PyObject *perm, uint64_t *out)
{
    Py_ssize_t n;
    if (Py_IS_TYPE(value, &PyFrozenSet_Type) || Py_IS_TYPE(value, &PySet_Type)) {
        n = PySet_GET_SIZE(value);
    }
    else {
        n = PyObject_Size(value);
        if (n < 0) {
            return -1;
        }
    }
    uint64_t total = 0;
#ifndef Py_GIL_DISABLED
    if (Py_TYPE(value)->tp_iter == PyFrozenSet_Type.tp_iter ||
        Py_TYPE(value)->tp_iter == PySet_Type.tp_iter) {
        /* Walk the hash table (see cpython/setobject.h: a slot is active when its key is
           set and its hash is not -1).  The table is re-read at every step and a change of
           size is reported, as set iterators do, in case hashing ran Python code. */
        PySetObject *so = (PySetObject *)value;
        Py_ssize_t used = so->used;
        for (Py_ssize_t i = 0; i <= so->mask; i++) {
            setentry *entry = &so->table[i];
            PyObject *key = entry->key;
            if (key == NULL || entry->hash == -1) {
                continue;
            }
            uint64_t e;
            Py_INCREF(key);
            int rc = fp_value(key, perm, &e);
            Py_DECREF(key);
            if (rc < 0) {
                return -1;
            }
            if (so->used != used) {
                PyErr_SetString(PyExc_RuntimeError, "Set changed size during iteration");
                return -1;
            }
            total += mix(e ^ SET_SALT);
        }
        *out = mix(total ^ mix(TAG_SET + (uint64_t)n));
        return 0;
    }
#endif
    PyObject *it = PyObject_GetIter(value);
    if (it == NULL) {
        return -1;
    }
    PyObject *element;
    while ((element = PyIter_Next(it)) != NULL) {
        uint64_t e;
        int rc = fp_value(element, perm, &e);
        Py_DECREF(element);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
        total += mix(e ^ SET_SALT);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return -1;
    }
    *out = mix(total ^ mix(TAG_SET + (uint64_t)n));
    return 0;
}

/* len(value), as the reference measures it. */
static inline Py_ssize_t
dict_length(PyObject *value)
{
    return Py_IS_TYPE(value, &PyDict_Type) ? PyDict_GET_SIZE(value) : PyObject_Size(value);
}

/* The sum over the entries of a dict of mix(fp(k) ^ mix(fp(v) + PAIR_SALT)), and in *plain
   whether every key is plain (plain_key). */
static int
dict_sum(PyObject *value, PyObject *perm, uint64_t *out, int *plain)
{
    uint64_t total = 0;
    int all_plain = 1;
    Py_ssize_t pos = 0, size = PyDict_GET_SIZE(value);
    PyObject *key, *item;
    while (PyDict_Next(value, &pos, &key, &item)) {
        uint64_t k, v;
        Py_INCREF(key);
        Py_INCREF(item);
        int rc = fp_value(item, perm, &v);
        if (rc == 0) {
            rc = fp_value(key, perm, &k);
        }
        Py_DECREF(key);
        Py_DECREF(item);
        if (rc < 0) {
            return -1;
        }
        if (PyDict_GET_SIZE(value) != size) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            return -1;
        }
        total += mix(k ^ mix(v + PAIR_SALT));
        all_plain = all_plain && plain_key(key, id_type);
    }
    *out = total;
    *plain = all_plain;
    return 0;
}

static int
fp_dict(PyObject *value, PyObject *perm, uint64_t *out)
{
    Py_ssize_t n = dict_length(value);
    uint64_t total;
    int plain;
    if (n < 0 || dict_sum(value, perm, &total, &plain) < 0) {
        return -1;
    }
    *out = mix(total ^ mix(TAG_MAP + (uint64_t)n));
    return 0;
}

#if MAP_FP_SUMS
/* The sum of a map made by changing one key of a map whose sum was known (MapObject). */
static int
derived_sum(MapObject *map, uint64_t *out)
{
    PyObject *key = map->fp_key, *old = map->fp_old, *new = map->fp_new;
    uint64_t total = map->fp_sum, k, v;
    int rc = -1;
    /* Hold them: hashing an enum member runs Python code. */
    Py_INCREF(key);
    Py_XINCREF(old);
    Py_XINCREF(new);
    if (fp_value(key, NULL, &k) < 0) {
        goto done;
    }
    if (old != NULL) {
        if (fp_value(old, NULL, &v) < 0) {
            goto done;
        }
        total -= mix(k ^ mix(v + PAIR_SALT));
    }
    if (new != NULL) {
        if (fp_value(new, NULL, &v) < 0) {
            goto done;
        }
        total += mix(k ^ mix(v + PAIR_SALT));
    }
    *out = total;
    rc = 0;
done:
    Py_DECREF(key);
    Py_XDECREF(old);
    Py_XDECREF(new);
    return rc;
}
#endif

/* fp_dict for a Map whose base is the C MapBase (map_sums), which keeps its sum. */
static int
fp_map(PyObject *value, PyObject *perm, uint64_t *out)
{
#if MAP_FP_SUMS
    if (perm == NULL) {
        MapObject *map = (MapObject *)value;
        Py_ssize_t n = dict_length(value); /* first: a subclass's __len__ runs Python code */
        if (n < 0) {
            return -1;
        }
        uint64_t version = map_version(value), total;
        if (map->fp_state == FP_SUM_KNOWN && map->fp_version == version) {
            total = map->fp_sum;
        }
        else {
            int derived = map->fp_state == FP_SUM_DERIVED && map->fp_version == version;
            int plain = map->fp_plain;
            if ((derived ? derived_sum(map, &total) : dict_sum(value, NULL, &total, &plain)) < 0) {
                return -1;
            }
            if (map_version(value) == version) {
                map->fp_plain = plain;
                map->fp_state = FP_SUM_KNOWN;
                map->fp_sum = total;
                map->fp_version = version;
                map->fp_new = NULL;
                Py_CLEAR(map->fp_key);
                Py_CLEAR(map->fp_old);
            }
        }
        *out = mix(total ^ mix(TAG_MAP + (uint64_t)n));
        return 0;
    }
#endif
    return fp_dict(value, perm, out);
}

/* fingerprint((type(value).__name__, value.name)) */
static int
fp_enum(PyObject *value, uint64_t *out)
{
    uint64_t cls, name, h;
    if (type_name_fp(Py_TYPE(value), &cls) < 0) {
        return -1;
    }
    PyObject *member = PyObject_GetAttr(value, str_name);
    if (member == NULL) {
        return -1;
    }
    int rc = fp_value(member, NULL, &name);
    Py_DECREF(member);
    if (rc < 0) {
        return -1;
    }
    h = mix(TAG_TUPLE + 2);
    h = mix(h ^ cls);
    *out = mix(h ^ name);
    return 0;
}

/* Unsupported type: let the reference raise its TypeError (or answer, should it know more). */
static int
fp_fallback(PyObject *value, uint64_t *out)
{
    if (reference == NULL) {
        reference = import_attr("checker.fingerprint", "fingerprint_python");
        if (reference == NULL) {
            return -1;
        }
    }
    PyObject *result = PyObject_CallOneArg(reference, value);
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

/* ------------------------------------------------------------------------------------------ */
/* Dispatch, in the reference's order (exact-type tests commute with each other).              */

static int
fp_value(PyObject *value, PyObject *perm, uint64_t *out)
{
    PyTypeObject *type = Py_TYPE(value);
    int rc;

    if (type == &PyUnicode_Type) {
        return fp_cached(fp_str_unpermuted, value, NULL, out);
    }
    if (type == &PyLong_Type) {
        int overflow;
        long long small = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow) {
            return fp_bigint(value, out);
        }
        if (small == -1 && PyErr_Occurred()) {
            return -1;
        }
        *out = mix((uint64_t)small ^ mix_int);
        return 0;
    }
    if (type == &PyTuple_Type) {
        if (Py_EnterRecursiveCall(RECURSION_WHERE)) {
            return -1;
        }
        rc = fp_tuple_items(value, mix(TAG_TUPLE + (uint64_t)PyTuple_GET_SIZE(value)), perm,
                            out);
        Py_LeaveRecursiveCall();
        return rc;
    }
    if (type == id_type) {
        if (perm != NULL) {
            PyObject *image = PyDict_GetItemWithError(perm, value);
            if (image != NULL) {
                Py_INCREF(image);
                rc = fp_value(image, NULL, out);
                Py_DECREF(image);
                return rc;
            }
            if (PyErr_Occurred()) {
                return -1;
            }
        }
        if (Py_EnterRecursiveCall(RECURSION_WHERE)) {
            return -1;
        }
        rc = fp_cached(fp_id_unpermuted, value, NULL, out);
        Py_LeaveRecursiveCall();
        return rc;
    }
    if (value == Py_None) {
        *out = const_none;
        return 0;
    }
    if (type == &PyBool_Type) {
        *out = value == Py_True ? const_true : const_false;
        return 0;
    }
    if (type == &PyBytes_Type) {
        *out = fnv((const unsigned char *)PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value),
                   TAG_BYTES);
        return 0;
    }
    if (type == &PyFloat_Type) {
        double d = PyFloat_AS_DOUBLE(value);
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        *out = mix(bits ^ mix_float);
        return 0;
    }
    if (PyTuple_Check(value)) {
        if (Py_EnterRecursiveCall(RECURSION_WHERE)) {
            return -1;
        }
        rc = is_subtype_of(type, record_type, &last_record_type)
                 ? fp_cached(fp_tuple_subclass, value, perm, out)
                 : fp_tuple_subclass(value, perm, out);
        Py_LeaveRecursiveCall();
        return rc;
    }
    /* Before sets, which cost a Map two subtype tests (no type is both a set and a dict). */
    if (PyDict_Check(value)) {
        if (Py_EnterRecursiveCall(RECURSION_WHERE)) {
            return -1;
        }
        /* A Map with the C base keeps its own sum: the address cache is left to the rest. */
        if (!is_subtype_of(type, map_type, &last_map_type)) {
            rc = fp_dict(value, perm, out);
        }
        else {
            rc = map_sums ? fp_map(value, perm, out) : fp_cached(fp_dict, value, perm, out);
        }
        Py_LeaveRecursiveCall();
        return rc;
    }
    if (PyAnySet_Check(value)) {
        if (Py_EnterRecursiveCall(RECURSION_WHERE)) {
            return -1;
        }
        rc = type == &PyFrozenSet_Type ? fp_cached(fp_set, value, perm, out)
                                       : fp_set(value, perm, out);
        Py_LeaveRecursiveCall();
        return rc;
    }
    PyObject *enum_cls = get_enum_type();
    if (enum_cls == NULL) {
        return -1;
    }
    int is_enum = PyObject_IsInstance(value, enum_cls);
    if (is_enum < 0) {
        return -1;
    }
    if (Py_EnterRecursiveCall(RECURSION_WHERE)) {
        return -1;
    }
    rc = is_enum ? fp_enum(value, out) : fp_fallback(value, out);
    Py_LeaveRecursiveCall();
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Module.                                                                                     */

/* fp_value for the argument of a call from Python, which the cache does not keep. */
static int
fp_top(PyObject *value, PyObject *perm, uint64_t *out)
{
#ifndef Py_GIL_DISABLED
    PyObject *outer = top_value;
    top_value = value;
    int rc = fp_value(value, perm, out);
    top_value = outer;
    return rc;
#else
    return fp_value(value, perm, out);
#endif
}

/* fingerprint() for C callers, without a Python int: exported to checker._table (for the
   parallel search's offer_candidates) as the capsule checker._fp.fingerprint_word. */
static int
fingerprint_word(PyObject *value, uint64_t *out)
{
    if (id_type == NULL && load_id_type() < 0) {
        return -1;
    }
    return fp_top(value, NULL, out);
}

PyDoc_STRVAR(fingerprint_doc,
"fingerprint(value, /) -> int\n\n"
"The stable 64-bit fingerprint of value; bit-identical to\n"
"checker.fingerprint.fingerprint_python.");

static PyObject *
py_fingerprint(PyObject *module, PyObject *value)
{
    if (id_type == NULL && load_id_type() < 0) {
        return NULL;
    }
    uint64_t h;
    if (fp_top(value, NULL, &h) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(h);
}

PyDoc_STRVAR(fingerprint_permuted_doc,
"fingerprint_permuted(value, permutation, /) -> int\n\n"
"The fingerprint of value with every Id inside it that is a key of the dict\n"
"permutation replaced by its image (which is hashed as is), without building\n"
"the permuted value.  permutation must be injective on the ids of value.");

static PyObject *
py_fingerprint_permuted(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "fingerprint_permuted expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    PyObject *perm = args[1];
    if (!PyDict_Check(perm)) {
        PyErr_Format(PyExc_TypeError,
                     "fingerprint_permuted: permutation must be a dict, not %.200s",
                     Py_TYPE(perm)->tp_name);
        return NULL;
    }
    if (id_type == NULL && load_id_type() < 0) {
        return NULL;
    }
    uint64_t h;
    if (fp_top(args[0], PyDict_GET_SIZE(perm) ? perm : NULL, &h) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(h);
}

PyDoc_STRVAR(offer_successors_doc,
"offer_successors(successors, state, number, offer, start, level_base, full, fingerprint, /)\n"
"\n"
"Offer successors[start:] to the seen set in order, as the plain search does one by one:\n"
"offer(code, i, level_base) with code = fingerprint(successors[i]) (in range(2**64)), or\n"
"number, the state's own, when the successor is state itself; when offer is a\n"
"checker._table.Table's, into the table's memory directly.  Returns (i, code) at the first\n"
"offer that returns 1 (a new state), None once all were offered, and (i, None) when offer\n"
"raised the exception class full for successor i (cleared; retry from i after growing the\n"
"table).  Into a Table with this module's fingerprint, up to 32 successors are fingerprinted\n"
"ahead of their offers (their slots prefetched) and their codes kept for the next call with\n"
"the same list and state, which must not change in between.");

/* The open Table whose own offer() method `offer` is (offer_successors then offers into its
   memory itself), else NULL with *error 0, or NULL with *error 1 and an exception set. */
static TableObject *
offering_table(PyObject *offer, int *error)
{
    *error = 0;
    if (table_type == NULL) {
        table_type = import_attr("checker._table", "Table");
        if (table_type == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_ImportError)) {
                *error = 1;
                return NULL;
            }
            PyErr_Clear();
            table_type = Py_NewRef(Py_None);
        }
    }
    if (!PyCFunction_Check(offer)) {
        return NULL;
    }
    PyObject *self = PyCFunction_GET_SELF(offer);
    if (self == NULL || (PyObject *)Py_TYPE(self) != table_type ||
        strcmp(((PyCFunctionObject *)offer)->m_ml->ml_name, "offer") != 0 ||
        !((TableObject *)self)->has_view) {
        return NULL;
    }
    return (TableObject *)self;
}

/* The fingerprint of successors[i] (number's value `own_code` when it is the state itself) as
   a word; `own`: whether `function` is this module's fingerprint, run inline. */
static int
successor_code(PyObject *successor, PyObject *state, uint64_t own_code, int own,
               PyObject *function, uint64_t *out)
{
    if (successor == state) {
        *out = own_code;
        return 0;
    }
    int rc;
    Py_INCREF(successor);
    if (own) {
        rc = fp_top(successor, NULL, out);
    }
    else {
        PyObject *code = PyObject_CallOneArg(function, successor);
        rc = code == NULL ? -1 : as_u64(code, "fingerprint", out);
        Py_XDECREF(code);
    }
    Py_DECREF(successor);
    return rc;
}

#define OFFER_ERROR (-2)

/* Fingerprints of successors computed ahead of their offers (plain search into a Table, see
   fingerprint_ahead).  offer_successors returns at each new state and is called again from the
   one after it, so the codes computed ahead are kept here between those calls, with the
   exception of the successor after them, if it raised, to be raised when its turn comes. */
static struct {
    PyObject *successors, *state; /* strong references; NULL when nothing is kept */
    uint64_t own_code;
    Py_ssize_t first, end;        /* codes[k] belongs to successors[first + k], first + k < end */
    PyObject *error[3];           /* type, value, traceback */
    uint64_t codes[FINGERPRINT_AHEAD];
} ahead;

static void
ahead_clear(void)
{
    Py_CLEAR(ahead.successors);
    Py_CLEAR(ahead.state);
    Py_CLEAR(ahead.error[0]);
    Py_CLEAR(ahead.error[1]);
    Py_CLEAR(ahead.error[2]);
}

/* Raise the exception kept for the successor after the codes kept (moved out of `ahead`). */
static void
ahead_raise(void)
{
    PyErr_Restore(ahead.error[0], ahead.error[1], ahead.error[2]);
    ahead.error[0] = ahead.error[1] = ahead.error[2] = NULL;
}

/* Whether the codes kept are those of this call's successors from i on. */
static int
ahead_holds(PyObject *successors, PyObject *state, uint64_t own_code, Py_ssize_t i)
{
    return ahead.successors == successors && ahead.state == state &&
           ahead.own_code == own_code && ahead.first <= i && i <= ahead.end &&
           ahead.end <= PyList_GET_SIZE(successors);
}

/* Keep the codes of successors[i:i + FINGERPRINT_AHEAD]; -1 (exception set) if successors[i]
   itself could not be fingerprinted. */
static int
ahead_fill(TableObject *table, PyObject *successors, PyObject *state, uint64_t own_code,
           Py_ssize_t i)
{
    ahead_clear();
    Py_ssize_t end = PyList_GET_SIZE(successors);
    if (end - i > FINGERPRINT_AHEAD) {
        end = i + FINGERPRINT_AHEAD;
    }
    Py_ssize_t ready = fingerprint_ahead(table, fingerprint_word, successors, state, own_code,
                                         i, end, ahead.codes, ahead.error);
    if (ready == i && ahead.error[0] != NULL) {
        ahead_raise();
        return -1;
    }
    ahead.successors = Py_NewRef(successors);
    ahead.state = Py_NewRef(state);
    ahead.own_code = own_code;
    ahead.first = i;
    ahead.end = ready;
    return 0;
}

/* offer(fp, ordinal, level_base) called: OFFER_BEST for a new state, OFFER_OLD otherwise, -1
   when it raised the exception class `full` (cleared), OFFER_ERROR for any other exception. */
static int
offer_by_call(PyObject *offer, uint64_t fp, Py_ssize_t ordinal, PyObject *level_base,
              PyObject *full)
{
    PyObject *call[3] = {PyLong_FromUnsignedLongLong(fp), PyLong_FromSsize_t(ordinal),
                         level_base};
    PyObject *answer = call[0] == NULL || call[1] == NULL ? NULL
                       : PyObject_Vectorcall(offer, call, 3, NULL);
    Py_XDECREF(call[0]);
    Py_XDECREF(call[1]);
    if (answer == NULL) {
        if (PyErr_ExceptionMatches(full)) {
            PyErr_Clear();
            return -1;
        }
        return OFFER_ERROR;
    }
    int fresh = PyLong_CheckExact(answer) && PyLong_AsLong(answer) == 1;
    Py_DECREF(answer);
    return fresh ? OFFER_BEST : OFFER_OLD;
}

static PyObject *
py_offer_successors(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_Format(PyExc_TypeError, "offer_successors expected 8 arguments, got %zd", nargs);
        return NULL;
    }
    PyObject *successors = args[0], *state = args[1], *number = args[2], *offer = args[3];
    PyObject *level_base = args[5], *full = args[6], *function = args[7];
    /* This module's own fingerprint runs inline; any other (canonical forms) is called. */
    int own = PyCFunction_Check(function) &&
              PyCFunction_GET_FUNCTION(function) == (PyCFunction)py_fingerprint;
    if (!PyList_CheckExact(successors)) {
        PyErr_Format(PyExc_TypeError, "offer_successors: successors must be a list, not %.200s",
                     Py_TYPE(successors)->tp_name);
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[4]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (id_type == NULL && load_id_type() < 0) {
        return NULL;
    }
    int error;
    TableObject *table = offering_table(offer, &error);
    if (error) {
        return NULL;
    }
    uint64_t base = 0, own_code;
    if ((table != NULL && as_u64(level_base, "level_base", &base) < 0) ||
        as_u64(number, "number", &own_code) < 0) {
        return NULL;
    }
    /* Fingerprints computed ahead pay where offers go to a table's memory: its slots are
       prefetched while the next successors are fingerprinted. */
    int stashed = table != NULL && own;
    Py_ssize_t i = start < 0 ? 0 : start;
    if (stashed && !ahead_holds(successors, state, own_code, i)) {
        ahead_clear();
    }
    for (; i < PyList_GET_SIZE(successors); i++) {
        uint64_t h;
        if (stashed) {
            if (ahead.successors != NULL && i == ahead.end && ahead.error[0] != NULL) {
                ahead_raise();
                ahead_clear();
                return NULL;
            }
            if ((ahead.successors == NULL || i == ahead.end) &&
                ahead_fill(table, successors, state, own_code, i) < 0) {
                return NULL;
            }
            h = ahead.codes[i - ahead.first];
        }
        else if (successor_code(PyList_GET_ITEM(successors, i), state, own_code, own, function,
                                &h) < 0) {
            return NULL;
        }
        /* Into a table's memory directly, without a Python int and a call per successor
           (two-phase commit with 7 RMs: 2.7 million offers); otherwise through offer(). */
        int r = table != NULL ? offer_one(table, h, (uint64_t)i, base)
                              : offer_by_call(offer, h, i, level_base, full);
        if (r == OFFER_ERROR) {
            return NULL;
        }
        if (r < 0) {
            return Py_BuildValue("(nO)", i, Py_None);
        }
        if (r == OFFER_BEST) {
            return Py_BuildValue("(nN)", i, PyLong_FromUnsignedLongLong(h));
        }
    }
    if (stashed) {
        ahead_clear();
    }
    Py_RETURN_NONE;
}

static PyMethodDef fp_methods[] = {
    {"fingerprint", (PyCFunction)py_fingerprint, METH_O, fingerprint_doc},
    {"fingerprint_permuted", (PyCFunction)(void (*)(void))py_fingerprint_permuted,
     METH_FASTCALL, fingerprint_permuted_doc},
    {"offer_successors", (PyCFunction)(void (*)(void))py_offer_successors, METH_FASTCALL,
     offer_successors_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fp_module = {
    PyModuleDef_HEAD_INIT,
    "checker._fp",
    "C implementation of checker.fingerprint.fingerprint_python.",
    -1,
    fp_methods,
};

PyMODINIT_FUNC
PyInit__fp(void)
{
    init_scalar_constants();
    if (str_name == NULL) {
        str_name = PyUnicode_InternFromString("name");
        if (str_name == NULL) {
            return NULL;
        }
    }
    if (str_dunder_name == NULL) {
        str_dunder_name = PyUnicode_InternFromString("__name__");
        if (str_dunder_name == NULL) {
            return NULL;
        }
    }
    PyObject *module = PyModule_Create(&fp_module);
    if (module == NULL) {
        return NULL;
    }
    PyObject *capsule = PyCapsule_New((void *)fingerprint_word, FINGERPRINT_WORD_CAPSULE,
                                      NULL);
    if (capsule == NULL || PyModule_AddObject(module, "fingerprint_word", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
