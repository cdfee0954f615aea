/*
 * checker._values: C bases for the value types of checker/values.py.
 *
 * Models build a new record and often a new map on every transition, so the cost of
 * Record.replace, record construction, field access and Map.set is most of the cost of an
 * action.  The pure-Python definitions in checker/values.py are the specification; these bases
 * behave the same (same results, same errors) and are used when this module was built.
 *
 * RecordBase (a tuple subclass): the constructor and replace() read the record class's
 * `_fields` (names in order) and `_defaults` (name -> default value); equality is
 * type-aware (a record equals only a record of the same class); hash is the tuple's.
 * field_descriptor(cls, index, name) returns a read-only member descriptor reading tuple item
 * `index` in place, which the interpreter's attribute cache handles like a __slots__ member.
 *
 * IdBase (the tuple base of checker.values.Id): the tuple's hash, remembered by address.
 *
 * MapBase (a dict subclass with a cached hash): set/merge/remove return an updated copy of
 * the same class; the copy clones the hash table in one step.  A copy that changes one key of
 * a map whose fingerprint sum is known records how to derive its own from it (see MapObject
 * in _common.h), so that checker._fp fingerprints it from three values instead of all.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "structmember.h"

#include "_common.h"

#ifdef Py_T_OBJECT_EX
#define MEMBER_OBJECT_EX Py_T_OBJECT_EX
#define MEMBER_READONLY Py_READONLY
#else
#define MEMBER_OBJECT_EX T_OBJECT_EX
#define MEMBER_READONLY READONLY
#endif

static PyObject *str_fields = NULL;   /* "_fields" */
static PyObject *str_defaults = NULL; /* "_defaults" */

/* ------------------------------------------------------------------------------------------ */
/* Records.                                                                                    */

/* The class's `_fields` tuple (new reference) or NULL with an exception set.  It is read from
   the class and its bases through the type's method cache, as a class attribute without
   descriptors: a fraction of the cost of getattr(type, "_fields"), paid at every replace(). */
static PyObject *
record_fields(PyTypeObject *type)
{
    PyObject *fields = _PyType_Lookup(type, str_fields);
    if (fields != NULL && PyTuple_CheckExact(fields)) {
        Py_INCREF(fields);
        return fields;
    }
    fields = PyObject_GetAttr((PyObject *)type, str_fields);
    if (fields != NULL && !PyTuple_Check(fields)) {
        PyErr_Format(PyExc_TypeError, "%.200s._fields must be a tuple", type->tp_name);
        Py_CLEAR(fields);
    }
    return fields;
}

/* Position of `name` in `fields`, or -1 (no exception) when it is not a field. */
static Py_ssize_t
field_position(PyObject *fields, PyObject *name)
{
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyTuple_GET_ITEM(fields, i) == name) {
            return i;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *field = PyTuple_GET_ITEM(fields, i);
        if (PyUnicode_Check(name) && PyUnicode_Compare(field, name) == 0) {
            return i;
        }
    }
    if (PyErr_Occurred()) {
        PyErr_Clear();
    }
    return -1;
}

static void
no_such_field(PyTypeObject *type, PyObject *fields, PyObject *name)
{
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *listed = sep ? PyUnicode_Join(sep, fields) : NULL;
    Py_XDECREF(sep);
    if (listed == NULL) {
        return;
    }
    PyErr_Format(PyExc_TypeError, "%s has no field %R; fields are %U",
                 _PyType_Name(type), name, listed);
    Py_DECREF(listed);
}

/* A new record of `type` with `n` items, all NULL. */
static PyObject *
record_alloc(PyTypeObject *type, Py_ssize_t n)
{
    return type->tp_alloc(type, n);
}

/* Put `value` in the field called `name` of the record being built, or fail. */
static int
assign_keyword(PyTypeObject *type, PyObject *fields, PyObject *self, PyObject *name,
               PyObject *value)
{
    Py_ssize_t i = field_position(fields, name);
    if (i < 0) {
        PyErr_Format(PyExc_TypeError, "%s() got an unexpected field %R", _PyType_Name(type),
                     name);
        return -1;
    }
    if (PyTuple_GET_ITEM(self, i) != NULL) {
        PyErr_Format(PyExc_TypeError, "%s() got multiple values for field %R",
                     _PyType_Name(type), name);
        return -1;
    }
    Py_INCREF(value);
    PyTuple_SET_ITEM(self, i, value);
    return 0;
}

/* A record of `type` from positional values, then keywords either as the names `kwnames`
   (values after the positional ones in `args`, vectorcall style) or as the dict `kwds`. */
static PyObject *
record_build(PyTypeObject *type, PyObject *const *args, Py_ssize_t given, PyObject *kwnames,
             PyObject *kwds)
{
    PyObject *fields = record_fields(type);
    if (fields == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    if (given > n) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd field value(s) but %zd were given",
                     _PyType_Name(type), n, given);
        Py_DECREF(fields);
        return NULL;
    }
    PyObject *self = record_alloc(type, n);
    if (self == NULL) {
        Py_DECREF(fields);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < given; i++) {
        Py_INCREF(args[i]);
        PyTuple_SET_ITEM(self, i, args[i]);
    }
    Py_ssize_t filled = given;
    if (kwnames != NULL) {
        Py_ssize_t count = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t j = 0; j < count; j++) {
            if (assign_keyword(type, fields, self, PyTuple_GET_ITEM(kwnames, j),
                               args[given + j]) < 0) {
                goto fail;
            }
        }
        filled += count;
    }
    if (kwds != NULL) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(kwds, &pos, &key, &value)) {
            if (assign_keyword(type, fields, self, key, value) < 0) {
                goto fail;
            }
        }
        filled += PyDict_GET_SIZE(kwds);
    }
    if (filled < n) {
        PyObject *defaults = PyObject_GetAttr((PyObject *)type, str_defaults);
        if (defaults == NULL) {
            goto fail;
        }
        if (!PyDict_Check(defaults)) {
            PyErr_Format(PyExc_TypeError, "%s._defaults must be a dict", _PyType_Name(type));
            Py_DECREF(defaults);
            goto fail;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (PyTuple_GET_ITEM(self, i) != NULL) {
                continue;
            }
            PyObject *name = PyTuple_GET_ITEM(fields, i);
            PyObject *value = PyDict_GetItemWithError(defaults, name);
            if (value == NULL) {
                if (!PyErr_Occurred()) {
                    PyErr_Format(PyExc_TypeError, "%s() missing a value for field %R",
                                 _PyType_Name(type), name);
                }
                Py_DECREF(defaults);
                goto fail;
            }
            Py_INCREF(value);
            PyTuple_SET_ITEM(self, i, value);
        }
        Py_DECREF(defaults);
    }
    Py_DECREF(fields);
    return self;
fail:
    Py_DECREF(fields);
    Py_DECREF(self);
    return NULL;
}

static PyObject *
record_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    return record_build(type, &PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args), NULL,
                        kwds != NULL && PyDict_GET_SIZE(kwds) ? kwds : NULL);
}

/* Calling a record class: the same as record_new, without packing the arguments. */
static PyObject *
record_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) == 0) {
        kwnames = NULL;
    }
    return record_build((PyTypeObject *)callable, args, nargs, kwnames, NULL);
}

PyDoc_STRVAR(replace_doc,
"replace(**changes)\n--\n\n"
"Return a copy of this record with the given fields changed.");

static PyObject *
record_replace(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyTypeObject *type = Py_TYPE(self);
    if (nargs != 0) {
        PyErr_Format(PyExc_TypeError, "%s.replace() takes field names as keywords only",
                     _PyType_Name(type));
        return NULL;
    }
    Py_ssize_t changes = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (changes == 0) {
        Py_INCREF(self);
        return self;
    }
    PyObject *fields = record_fields(type);
    if (fields == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(self);
    /* Nothing changes when every new value is the very object already there (a step that
       leaves the state as it is): return the record itself. */
    Py_ssize_t same = 0;
    for (Py_ssize_t j = 0; j < changes; j++) {
        Py_ssize_t i = field_position(fields, PyTuple_GET_ITEM(kwnames, j));
        if (i < 0 || i >= n || PyTuple_GET_ITEM(self, i) != args[j]) {
            break;
        }
        same++;
    }
    if (same == changes) {
        Py_DECREF(fields);
        Py_INCREF(self);
        return self;
    }
    PyObject *copy = record_alloc(type, n);
    if (copy == NULL) {
        Py_DECREF(fields);
        return NULL;
    }
    PyObject **to = ((PyTupleObject *)copy)->ob_item;
    PyObject **from = ((PyTupleObject *)self)->ob_item;
    for (Py_ssize_t j = 0; j < changes; j++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, j);
        Py_ssize_t i = field_position(fields, name);
        if (i < 0 || i >= n) {
            no_such_field(type, fields, name);
            Py_DECREF(fields);
            Py_DECREF(copy);
            return NULL;
        }
        PyObject *value = args[j];
        Py_INCREF(value);
        Py_XSETREF(to[i], value);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (to[i] == NULL) {
            Py_INCREF(from[i]);
            to[i] = from[i];
        }
    }
    Py_DECREF(fields);
    return copy;
}

static PyObject *
record_richcompare(PyObject *self, PyObject *other, int op)
{
    if (op == Py_EQ || op == Py_NE) {
        if (Py_TYPE(self) != Py_TYPE(other)) {
            return PyBool_FromLong(op == Py_NE);
        }
    }
    return PyTuple_Type.tp_richcompare(self, other, op);
}

PyDoc_STRVAR(record_getnewargs_doc,
"__getnewargs__()\n--\n\n"
"The field values, with which pickle rebuilds the record.");

/* Pickling: the record's items as a plain tuple (the parallel search pickles every state
   that moves between workers). */
static PyObject *
record_getnewargs(PyObject *self, PyObject *unused)
{
    return PyTuple_GetSlice(self, 0, PyTuple_GET_SIZE(self));
}

static PyMethodDef record_methods[] = {
    {"replace", (PyCFunction)(void (*)(void))record_replace, METH_FASTCALL | METH_KEYWORDS,
     replace_doc},
    {"__getnewargs__", (PyCFunction)record_getnewargs, METH_NOARGS, record_getnewargs_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RecordBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "checker._values.RecordBase",
    .tp_doc = PyDoc_STR("Tuple base of records: construction, replace() and equality in C."),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_TUPLE_SUBCLASS,
    .tp_new = record_new,
    .tp_richcompare = record_richcompare,
    .tp_methods = record_methods,
};

PyDoc_STRVAR(field_descriptor_doc,
"field_descriptor(cls, index, name, doc, /)\n--\n\n"
"A read-only descriptor for item `index` of instances of the record class `cls`.");

static PyObject *
field_descriptor(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "field_descriptor(cls, index, name, doc)");
        return NULL;
    }
    PyObject *cls = args[0];
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &RecordBase_Type)) {
        PyErr_SetString(PyExc_TypeError, "field_descriptor: cls must be a record class");
        return NULL;
    }
    Py_ssize_t index = PyLong_AsSsize_t(args[1]);
    if (index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t offset = (Py_ssize_t)offsetof(PyTupleObject, ob_item) +
                        index * (Py_ssize_t)sizeof(PyObject *);
    if (index < 0 || offset > INT16_MAX) {
        PyErr_SetString(PyExc_ValueError, "field_descriptor: index out of range");
        return NULL;
    }
    if (!PyUnicode_Check(args[2]) || !PyUnicode_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "field_descriptor: name and doc must be str");
        return NULL;
    }
    /* Member definitions must outlive their descriptors, which live as long as the class:
       they are allocated once per field of a record class and never freed. */
    const char *name = PyUnicode_AsUTF8(args[2]);
    const char *doc = PyUnicode_AsUTF8(args[3]);
    if (name == NULL || doc == NULL) {
        return NULL;
    }
    size_t name_size = strlen(name) + 1, doc_size = strlen(doc) + 1;
    PyMemberDef *member = PyMem_RawMalloc(sizeof(PyMemberDef) + name_size + doc_size);
    if (member == NULL) {
        return PyErr_NoMemory();
    }
    char *text = (char *)(member + 1);
    memcpy(text, name, name_size);
    memcpy(text + name_size, doc, doc_size);
    member->name = text;
    member->type = MEMBER_OBJECT_EX;
    member->offset = offset;
    member->flags = MEMBER_READONLY;
    member->doc = text + name_size;
    PyObject *descriptor = PyDescr_NewMember((PyTypeObject *)cls, member);
    if (descriptor == NULL) {
        PyMem_RawFree(member);
    }
    return descriptor;
}

PyDoc_STRVAR(install_vectorcall_doc,
"install_vectorcall(cls, /) -> bool\n--\n\n"
"Let calls of the record class cls build records without packing their arguments, when\n"
"neither cls nor its metaclass customises construction; returns whether it did.");

static PyObject *
install_vectorcall(PyObject *module, PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &RecordBase_Type)) {
        PyErr_SetString(PyExc_TypeError, "install_vectorcall: cls must be a record class");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    PyTypeObject *meta = Py_TYPE(cls);
    int plain = type->tp_new == record_new && type->tp_init == PyBaseObject_Type.tp_init &&
                meta->tp_call == PyType_Type.tp_call &&
                meta->tp_vectorcall_offset == PyType_Type.tp_vectorcall_offset;
    if (!plain) {
        type->tp_vectorcall = NULL;
        Py_RETURN_FALSE;
    }
    /* A metaclass that keeps type's __call__ calls like type: through tp_vectorcall. */
    meta->tp_flags |= Py_TPFLAGS_HAVE_VECTORCALL;
    type->tp_vectorcall = record_vectorcall;
    Py_RETURN_TRUE;
}

/* ------------------------------------------------------------------------------------------ */
/* Ids.                                                                                        */
/*                                                                                             */
/* An id is a tuple (kind, index) used as the key of per-node maps and as an element of sets,  */
/* so it is hashed at every m[k], m.set(k, v) and k in s, and a tuple computes its hash anew   */
/* each time.  Ids are few and long-lived (interned, see checker/values.py), so their hashes   */
/* are remembered by address: the same value as the tuple's, in a few instructions.  An entry  */
/* holds a reference to its id, so no other object can have that address meanwhile.           */

#ifndef Py_GIL_DISABLED
#define ID_HASH_CACHE_SIZE 512

typedef struct {
    PyObject *object;
    Py_hash_t hash;
} hash_entry;

static hash_entry id_hashes[ID_HASH_CACHE_SIZE];

static Py_hash_t
id_hash(PyObject *self)
{
    hash_entry *entry = &id_hashes[address_index(self, ID_HASH_CACHE_SIZE)];
    if (entry->object == self) {
        return entry->hash;
    }
    Py_hash_t hash = PyTuple_Type.tp_hash(self);
    if (hash == -1) {
        return -1;
    }
    address_hold(&entry->object, self);
    entry->hash = hash;
    return hash;
}
#endif

static PyTypeObject IdBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "checker._values.IdBase",
    .tp_doc = PyDoc_STR("Tuple base of ids: the tuple's hash, remembered by address."),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_TUPLE_SUBCLASS,
};

/* ------------------------------------------------------------------------------------------ */
/* Maps.                                                                                       */

static PyTypeObject MapBase_Type;

/* Order-independent hash of the items: equal maps hash alike whatever their insertion order. */
static Py_hash_t
map_hash(PyObject *self)
{
    MapObject *map = (MapObject *)self;
    if (map->hash != 0) {
        return map->hash;
    }
    uint64_t total = (uint64_t)PyDict_GET_SIZE(self);
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(self, &pos, &key, &value)) {
        Py_hash_t hk = PyObject_Hash(key);
        if (hk == -1) {
            return -1;
        }
        Py_hash_t hv = PyObject_Hash(value);
        if (hv == -1) {
            return -1;
        }
        total += mix((uint64_t)hk ^ mix((uint64_t)hv + 0x9E3779B97F4A7C15ull));
    }
    Py_hash_t hash = (Py_hash_t)mix(total);
    if (hash == 0 || hash == -1) {
        hash = 1;
    }
    map->hash = hash;
    return hash;
}

/* An empty map of the same class as `self`, with `self`'s items. */
static PyObject *
map_copy_of(PyObject *self)
{
    static PyObject *no_args = NULL;
    if (no_args == NULL) {
        no_args = PyTuple_New(0);
        if (no_args == NULL) {
            return NULL;
        }
    }
    PyObject *copy = PyDict_Type.tp_new(Py_TYPE(self), no_args, NULL);
    if (copy == NULL) {
        return NULL;
    }
    if (PyDict_Merge(copy, self, 1) < 0) {
        Py_DECREF(copy);
        return NULL;
    }
    return copy;
}

#if MAP_FP_SUMS
/* Whether `key` itself (not merely an equal object) is a key of the dict `map`: a derived
   sum must hash the very key object that the entry holds. */
static int
holds_key(PyObject *map, PyObject *key)
{
    Py_ssize_t pos = 0;
    PyObject *held, *value;
    while (PyDict_Next(map, &pos, &held, &value)) {
        if (held == key) {
            return 1;
        }
    }
    return 0;
}
#endif

/* checker.values.Id (borrowed), or NULL when it cannot be loaded (no id is then plain). */
static PyTypeObject *
id_type(void)
{
    static PyTypeObject *type = NULL;
    static int tried = 0;
    if (!tried) {
        tried = 1;
        type = load_type("Id");
        if (type == NULL) {
            PyErr_Clear();
        }
    }
    return type;
}

/* Record in `copy`, made from `map` by changing the entry of `key` (whose value in `map` was
   `old`, NULL when absent, and in `copy` is `new`, NULL when removed), how to derive its
   fingerprint sum from `map`'s, when that is known. */
static void
map_derive(PyObject *map, PyObject *copy, PyObject *key, PyObject *old, PyObject *new)
{
#if MAP_FP_SUMS
    MapObject *from = (MapObject *)map, *to = (MapObject *)copy;
    if (from->fp_state != FP_SUM_KNOWN || from->fp_version != map_version(map)) {
        return;
    }
    /* A present key must be hashed as the object the entry holds: `key` itself, or an equal
       key when all are plain. */
    int plain = from->fp_plain && plain_key(key, id_type());
    if (old != NULL && !plain && !holds_key(map, key)) {
        return;
    }
    to->fp_plain = old != NULL ? from->fp_plain : plain;
    to->fp_sum = from->fp_sum;
    to->fp_version = map_version(copy);
    Py_INCREF(key);
    Py_XINCREF(old);
    to->fp_key = key;
    to->fp_old = old;
    to->fp_new = new;
    to->fp_state = FP_SUM_DERIVED;
#endif
}

/* Lookup, insertion and deletion of a key whose hash the caller computed once for two of them:
   an Id or a record, like any tuple, computes its hash anew each time.  CPython 3.13 took the
   known-hash calls out of its public headers; there the dict hashes again. */
static inline PyObject *
lookup_known_hash(PyObject *dict, PyObject *key, Py_hash_t hash)
{
#if PY_VERSION_HEX < 0x030D0000
    return _PyDict_GetItem_KnownHash(dict, key, hash);
#else
    return PyDict_GetItemWithError(dict, key);
#endif
}

static inline int
insert_known_hash(PyObject *dict, PyObject *key, PyObject *value, Py_hash_t hash)
{
#if PY_VERSION_HEX < 0x030D0000
    return _PyDict_SetItem_KnownHash(dict, key, value, hash);
#else
    return PyDict_SetItem(dict, key, value);
#endif
}

static inline int
delete_known_hash(PyObject *dict, PyObject *key, Py_hash_t hash)
{
#if PY_VERSION_HEX < 0x030D0000
    return _PyDict_DelItem_KnownHash(dict, key, hash);
#else
    return PyDict_DelItem(dict, key);
#endif
}

PyDoc_STRVAR(map_set_doc, "set(key, value, /)\n--\n\nReturn a copy with key mapped to value.");

static PyObject *
map_set(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "set() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_hash_t hash = PyObject_Hash(args[0]);
    if (hash == -1) {
        return NULL;
    }
    PyObject *current = lookup_known_hash(self, args[0], hash);
    if (current == args[1]) {
        /* Already mapped to this very object: the map itself is the result. */
        Py_INCREF(self);
        return self;
    }
    if (current == NULL && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *copy = map_copy_of(self);
    if (copy != NULL && insert_known_hash(copy, args[0], args[1], hash) < 0) {
        Py_CLEAR(copy);
    }
    if (copy != NULL) {
        map_derive(self, copy, args[0], current, args[1]);
    }
    return copy;
}

PyDoc_STRVAR(map_merge_doc,
"merge(changes, /)\n--\n\nReturn a copy with every entry of changes set.");

static PyObject *
map_merge(PyObject *self, PyObject *changes)
{
    PyObject *copy = map_copy_of(self);
    if (copy != NULL && PyDict_Update(copy, changes) < 0) {
        Py_CLEAR(copy);
    }
    if (copy != NULL && PyDict_Check(changes) && PyDict_GET_SIZE(changes) == 1 &&
        Py_TYPE(changes)->tp_iter == PyDict_Type.tp_iter) {
        /* One change, as set() makes. */
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        if (PyDict_Next(changes, &pos, &key, &value)) {
            PyObject *current = PyDict_GetItemWithError(self, key);
            if (current == NULL && PyErr_Occurred()) {
                Py_DECREF(copy);
                return NULL;
            }
            map_derive(self, copy, key, current, value);
        }
    }
    return copy;
}

PyDoc_STRVAR(map_remove_doc,
"remove(key, /)\n--\n\nReturn a copy without key (which must be present).");

static PyObject *
map_remove(PyObject *self, PyObject *key)
{
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1) {
        return NULL;
    }
    PyObject *current = lookup_known_hash(self, key, hash);
    if (current == NULL && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *copy = map_copy_of(self);
    if (copy != NULL && delete_known_hash(copy, key, hash) < 0) {
        Py_CLEAR(copy);
    }
    if (copy != NULL && current != NULL) {
        map_derive(self, copy, key, current, NULL);
    }
    return copy;
}

static int
map_traverse(PyObject *self, visitproc visit, void *arg)
{
    MapObject *map = (MapObject *)self;
    Py_VISIT(map->fp_key);
    Py_VISIT(map->fp_old);
    return PyDict_Type.tp_traverse(self, visit, arg);
}

static int
map_clear(PyObject *self)
{
    MapObject *map = (MapObject *)self;
    map->fp_state = FP_SUM_UNKNOWN;
    map->fp_new = NULL;
    Py_CLEAR(map->fp_key);
    Py_CLEAR(map->fp_old);
    return PyDict_Type.tp_clear(self);
}

static void
map_dealloc(PyObject *self)
{
    MapObject *map = (MapObject *)self;
    PyObject_GC_UnTrack(self);
    Py_CLEAR(map->fp_key);
    Py_CLEAR(map->fp_old);
    PyDict_Type.tp_dealloc(self);
}

PyDoc_STRVAR(map_reduce_doc,
"__reduce__()\n--\n\n"
"(class, (dict of the items,)): pickle rebuilds the map from its class and items.");

static PyObject *
map_reduce(PyObject *self, PyObject *unused)
{
    PyObject *items = PyDict_Copy(self);
    if (items == NULL) {
        return NULL;
    }
    return Py_BuildValue("(O(N))", (PyObject *)Py_TYPE(self), items);
}

static PyMethodDef map_methods[] = {
    {"set", (PyCFunction)(void (*)(void))map_set, METH_FASTCALL, map_set_doc},
    {"merge", (PyCFunction)map_merge, METH_O, map_merge_doc},
    {"remove", (PyCFunction)map_remove, METH_O, map_remove_doc},
    {"__reduce__", (PyCFunction)map_reduce, METH_NOARGS, map_reduce_doc},
    {NULL, NULL, 0, NULL},
};

/* dict gives __getitem__ and __contains__ as methods, so in a class derived from dict in
   Python m[k] and k in m would look the method up and call it.  MapBase's own slots are the
   dict's functions: PyType_Ready then gives MapBase slot wrappers for them, and the classes
   derived from it (Map, Bag, a model's own) inherit the functions themselves, unless they
   define the methods. */
static PyMappingMethods map_as_mapping;
static PySequenceMethods map_as_sequence;

static PyTypeObject MapBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "checker._values.MapBase",
    .tp_doc = PyDoc_STR("Dict base of immutable maps: cached hash and copying updates in C."),
    .tp_basicsize = sizeof(MapObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = map_dealloc,
    .tp_traverse = map_traverse,
    .tp_clear = map_clear,
    .tp_hash = map_hash,
    .tp_methods = map_methods,
    .tp_as_mapping = &map_as_mapping,
    .tp_as_sequence = &map_as_sequence,
};

/* ------------------------------------------------------------------------------------------ */
/* Module.                                                                                     */

PyDoc_STRVAR(text_by_value_doc,
"text_by_value(value, /)\n--\n\n"
"value if it is a str, else None: the persistent_id with which the parallel search pickles\n"
"states, so that strings travel by value and the receiver interns them.  Pickle calls it for\n"
"every object it writes, so it is a C function.");

static PyObject *
text_by_value(PyObject *module, PyObject *value)
{
    if (PyUnicode_CheckExact(value)) {
        Py_INCREF(value);
        return value;
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"text_by_value", (PyCFunction)text_by_value, METH_O, text_by_value_doc},
    {"field_descriptor", (PyCFunction)(void (*)(void))field_descriptor, METH_FASTCALL,
     field_descriptor_doc},
    {"install_vectorcall", (PyCFunction)install_vectorcall, METH_O, install_vectorcall_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef values_module = {
    PyModuleDef_HEAD_INIT,
    "checker._values",
    "C bases of checker.values.Record and checker.values.Map.",
    -1,
    module_methods,
};

PyMODINIT_FUNC
PyInit__values(void)
{
    str_fields = PyUnicode_InternFromString("_fields");
    str_defaults = PyUnicode_InternFromString("_defaults");
    if (str_fields == NULL || str_defaults == NULL) {
        return NULL;
    }
    RecordBase_Type.tp_base = &PyTuple_Type;
    RecordBase_Type.tp_hash = PyTuple_Type.tp_hash;
    if (PyType_Ready(&RecordBase_Type) < 0) {
        return NULL;
    }
    IdBase_Type.tp_base = &PyTuple_Type;
#ifndef Py_GIL_DISABLED
    IdBase_Type.tp_hash = id_hash;
#endif
    if (PyType_Ready(&IdBase_Type) < 0) {
        return NULL;
    }
    MapBase_Type.tp_base = &PyDict_Type;
    MapBase_Type.tp_richcompare = PyDict_Type.tp_richcompare;
    map_as_mapping = *PyDict_Type.tp_as_mapping;
    map_as_sequence = *PyDict_Type.tp_as_sequence;
    if (PyType_Ready(&MapBase_Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&values_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&RecordBase_Type);
    if (PyModule_AddObject(module, "RecordBase", (PyObject *)&RecordBase_Type) < 0) {
        Py_DECREF(&RecordBase_Type);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&IdBase_Type);
    if (PyModule_AddObject(module, "IdBase", (PyObject *)&IdBase_Type) < 0) {
        Py_DECREF(&IdBase_Type);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&MapBase_Type);
    if (PyModule_AddObject(module, "MapBase", (PyObject *)&MapBase_Type) < 0) {
        Py_DECREF(&MapBase_Type);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
