/*
 * Shared by the C extensions of checker: the constants and primitives of the fingerprint
 * definition (checker/fingerprint.py's docstring) and lookups of Python objects.  Everything
 * here is static, so each extension module has its own copy of the few functions it uses.
 */

#ifndef CHECKER_COMMON_H
#define CHECKER_COMMON_H

#include <Python.h>
#include <stdint.h>

#define TAG_NONE 0x01u
#define TAG_FALSE 0x02u
#define TAG_TRUE 0x03u
#define TAG_INT 0x04u
#define TAG_BIGINT 0x05u
#define TAG_STR 0x06u
#define TAG_BYTES 0x07u
#define TAG_FLOAT 0x08u
#define TAG_TUPLE 0x09u
#define TAG_SET 0x0Au
#define TAG_MAP 0x0Bu
#define TAG_ID 0x0Cu
#define SET_SALT 0x9E3779B97F4A7C15ull
#define PAIR_SALT 0xC2B2AE3D27D4EB4Full
#define FNV_OFFSET 0xCBF29CE484222325ull
#define FNV_PRIME 0x100000001B3ull

/* SplitMix64's finaliser: a bijection on 64-bit words with good avalanche. */
static inline uint64_t
mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* FNV-1a over bytes, seeded with a type tag, then mixed. */
static inline uint64_t
fnv(const unsigned char *data, Py_ssize_t size, uint64_t tag)
{
    uint64_t h = FNV_OFFSET ^ tag;
    for (Py_ssize_t i = 0; i < size; i++) {
        h = (h ^ data[i]) * FNV_PRIME;
    }
    return mix(h);
}

/* The C base of checker.values.Map (checker._values.MapBase), whose fields checker._fp reads
   and writes too.  Besides the cached Python hash, a map remembers the sum over its entries of
   mix(fp(k) ^ mix(fp(v) + PAIR_SALT)), the order-independent part of its fingerprint:
   - FP_SUM_KNOWN: fp_sum is that sum;
   - FP_SUM_DERIVED: the map was made from a map whose sum was fp_sum by changing the entry of
     one key, fp_key (held; the very object both maps hold, or an equal plain key), whose value
     was fp_old there (held; NULL: absent) and is fp_new here (borrowed from this dict; NULL:
     removed);
   either only while the dict's version tag is still fp_version: a map is immutable, but
   dict.__setitem__ can still change one in place, and that changes the tag.  With the sum,
   fp_plain tells whether every key is plain (plain_key). */
#define FP_SUM_UNKNOWN 0
#define FP_SUM_KNOWN 1
#define FP_SUM_DERIVED 2

typedef struct {
    PyDictObject dict;
    Py_hash_t hash; /* 0: not computed yet */
    uint64_t fp_sum;
    uint64_t fp_version;
    PyObject *fp_key;
    PyObject *fp_old;
    PyObject *fp_new;
    int fp_state;
    int fp_plain;
} MapObject;

/* Whether `key` is plain: an exact str, an exact int, or an Id (`id_type`, NULL if unknown) of
   an exact str and an exact int.  Two plain keys that are equal have the same fingerprint. */
static inline int
plain_key(PyObject *key, PyTypeObject *id_type)
{
    PyTypeObject *type = Py_TYPE(key);
    if (type == &PyUnicode_Type || type == &PyLong_Type) {
        return 1;
    }
    return type == id_type && PyTuple_GET_SIZE(key) == 2 &&
           PyUnicode_CheckExact(PyTuple_GET_ITEM(key, 0)) &&
           PyLong_CheckExact(PyTuple_GET_ITEM(key, 1));
}

/* The dict's version tag, which changes whenever the dict does (PEP 509); deprecated, but
   kept, in 3.12 and 3.13, gone in 3.14, where maps remember no fingerprint sums.  Nor do they
   without the GIL, which is what keeps two threads from filling in one map's sum at once. */
#if PY_VERSION_HEX < 0x030E0000 && !defined(Py_GIL_DISABLED)
#define MAP_FP_SUMS 1
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
static inline uint64_t
map_version(PyObject *map)
{
    return ((PyDictObject *)map)->ma_version_tag;
}
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else
#define MAP_FP_SUMS 0
#endif

/* module.attr, as a new reference. */
static inline PyObject *
import_attr(const char *module, const char *attr)
{
    PyObject *mod = PyImport_ImportModule(module);
    if (mod == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_GetAttrString(mod, attr);
    Py_DECREF(mod);
    return result;
}

/* checker.values.<name>, which must be a type (new reference). */
static inline PyTypeObject *
load_type(const char *name)
{
    PyObject *type = import_attr("checker.values", name);
    if (type != NULL && !PyType_Check(type)) {
        Py_DECREF(type);
        PyErr_Format(PyExc_TypeError, "checker.values.%s is not a type", name);
        return NULL;
    }
    return (PyTypeObject *)type;
}

/* Caches keyed by address (the fingerprints of values in checker._fp, the hashes of ids in
   checker._values): direct-mapped tables whose entries hold a reference to their object, so
   that no other object can take its address while the entry lives. */

/* The entry of `object` in such a table of `size` entries (a power of two). */
static inline size_t
address_index(PyObject *object, size_t size)
{
    uintptr_t address = (uintptr_t)object;
    return ((address >> 4) ^ (address >> 18)) & (size - 1);
}

/* Make the entry's `*held` refer to `object`, releasing the object it held. */
static inline void
address_hold(PyObject **held, PyObject *object)
{
    PyObject *old = *held;
    Py_INCREF(object);
    *held = object;
    Py_XDECREF(old);
}

#ifdef CHECKER_SCALAR_CONSTANTS
/* Fingerprints of None, False and True and the mixes of the int and float tags (modules that
   fingerprint scalars define CHECKER_SCALAR_CONSTANTS and call init_scalar_constants once). */
static uint64_t const_none, const_false, const_true, mix_int, mix_float;

static void
init_scalar_constants(void)
{
    const_none = mix(TAG_NONE);
    const_false = mix(TAG_FALSE);
    const_true = mix(TAG_TRUE);
    mix_int = mix(TAG_INT);
    mix_float = mix(TAG_FLOAT);
}
#endif

#endif
