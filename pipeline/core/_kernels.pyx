# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The core's per-event steps, compiled: JSON records to columns, keyed tables for dedupe and
window slots, the fold of numeric window states and the results of closing windows.

Pure computation, like the rest of ``pipeline.core``: no I/O, no clock, no AWS (the fence test
reads this source). Python orchestrates per batch (``events.decode``, ``dedupe``,
``windows.operator``); nothing here runs a Python call per event on the common path.

Keys (event ids, and a window's start with its group values) are encoded to bytes so that byte
equality is value equality and byte order is Python's order of the values (None last): one
encoding gives hashing, equality and the order of results.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_New, PyList_SET_ITEM
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.math cimport NAN, fmax, fmin, frexp, isnan, nearbyint
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport qsort
from libc.string cimport memchr, memcmp, memcpy

import numpy as np
import pyarrow as pa

cdef extern from "Python.h":
    ctypedef struct PyObject
    bint PyObject_GC_IsTracked(object o)
    void PyObject_GC_UnTrack(void* o)
    Py_hash_t _Py_HashBytes(const void* src, Py_ssize_t length)
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* exc) noexcept
    PyObject* PyErr_Occurred() noexcept
    void PyErr_Clear() noexcept
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL

cdef extern from *:
    """
    #define KPIPE_PREFETCH(p) __builtin_prefetch((const void*)(p), 0, 3)
    """
    void prefetch "KPIPE_PREFETCH"(const void* p) noexcept

cdef enum:
    #: rows a batch walk looks ahead: the index slot of row i + AHEAD is fetched, and the entry
    #: of row i + AHEAD // 2 (read from that slot by then), while row i is decided
    AHEAD = 16

# -- typed keys --------------------------------------------------------------------------------

#: Tags of encoded values: one per type, null last (Python's order, None after every value).
cdef enum:
    TAG_STR = 0x10
    TAG_INT = 0x11
    TAG_FLOAT = 0x12
    TAG_BOOL = 0x13
    TAG_NULL = 0xFF

cdef extern from *:
    """
    #define KPIPE_SIGN 0x8000000000000000ULL
    #define KPIPE_LIMB_MASK ((1LL << 35) - 1)
    """
    const uint64_t SIGN "KPIPE_SIGN"
    const int64_t LIMB_MASK "KPIPE_LIMB_MASK"

cdef struct Buffer:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity


cdef int reserve(Buffer* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t wanted = b.size + extra
    cdef char* grown
    if wanted <= b.capacity:
        return 0
    wanted = max(wanted, 2 * b.capacity, 64)
    grown = <char*>PyMem_Realloc(b.data, wanted)
    if grown == NULL:
        raise MemoryError()
    b.data, b.capacity = grown, wanted
    return 0


cdef inline void put_u64(Buffer* b, uint64_t v) noexcept:
    cdef int k
    for k in range(8):  # big-endian: byte order is numeric order
        b.data[b.size + k] = <char>((v >> (56 - 8 * k)) & 0xFF)
    b.size += 8


cdef int put_int(Buffer* b, int64_t v) except -1:
    reserve(b, 9)
    b.data[b.size] = <char>TAG_INT
    b.size += 1
    put_u64(b, (<uint64_t>v) ^ SIGN)
    return 0


cdef int put_float(Buffer* b, double v) except -1:
    cdef uint64_t bits
    if v == 0.0:
        v = 0.0  # -0.0 == 0.0
    memcpy(&bits, &v, 8)
    bits = ~bits if bits & SIGN else bits | SIGN
    reserve(b, 9)
    b.data[b.size] = <char>TAG_FLOAT
    b.size += 1
    put_u64(b, bits)
    return 0


cdef int put_str(Buffer* b, const char* s, Py_ssize_t n) except -1:
    """Bytes with 0x00 escaped as 00 01 and ended by 00 00: ordered as the strings."""
    cdef Py_ssize_t i
    reserve(b, 2 * n + 3)
    b.data[b.size] = <char>TAG_STR
    b.size += 1
    if memchr(s, 0, n) == NULL:  # the common case: nothing to escape
        memcpy(b.data + b.size, s, n)
        b.size += n
    else:
        for i in range(n):
            b.data[b.size] = s[i]
            b.size += 1
            if s[i] == 0:
                b.data[b.size] = 1
                b.size += 1
    b.data[b.size] = 0
    b.data[b.size + 1] = 0
    b.size += 2
    return 0


cdef int put_tag(Buffer* b, uint8_t tag, int value) except -1:
    reserve(b, 2)
    b.data[b.size] = <char>tag
    b.size += 1
    if tag == TAG_BOOL:
        b.data[b.size] = <char>(1 if value else 0)
        b.size += 1
    return 0


cdef int put_object(Buffer* b, object value) except -1:
    """A Python value (snapshots, tests) as it would be encoded from a column."""
    cdef bytes text
    if value is None:
        return put_tag(b, TAG_NULL, 0)
    if value is True or value is False:
        return put_tag(b, TAG_BOOL, value is True)
    if isinstance(value, int):
        return put_int(b, value)
    if isinstance(value, float):
        return put_float(b, value)
    text = value.encode("utf-8")
    return put_str(b, PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text))


cdef inline uint64_t get_u64(const uint8_t* p) noexcept:
    cdef uint64_t v = 0
    cdef int k
    for k in range(8):
        v = (v << 8) | p[k]
    return v


cdef object decode_str(const uint8_t* p, const uint8_t** end):
    """An encoded string (after its tag); ``end`` is set past its bytes."""
    cdef const uint8_t* q = p
    cdef bint escaped = False
    cdef Buffer text
    while not (q[0] == 0 and q[1] == 0):
        escaped |= q[0] == 0
        q += 2 if q[0] == 0 else 1
    end[0] = q + 2
    if not escaped:
        return PyUnicode_DecodeUTF8(<const char*>p, q - p, NULL)
    text.data, text.size, text.capacity = NULL, 0, 0
    try:
        reserve(&text, q - p)
        while p < q:
            text.data[text.size] = <char>p[0]
            text.size += 1
            p += 2 if p[0] == 0 else 1
        return PyUnicode_DecodeUTF8(text.data, text.size, NULL)
    finally:
        PyMem_Free(text.data)


cdef object next_value(const uint8_t** at):
    """The Python value encoded at ``at[0]``, which moves past it."""
    cdef const uint8_t* p = at[0]
    cdef uint64_t bits
    cdef double d
    if p[0] == TAG_INT:
        at[0] = p + 9
        return <int64_t>(get_u64(p + 1) ^ SIGN)
    if p[0] == TAG_FLOAT:
        bits = get_u64(p + 1)
        bits = bits ^ SIGN if bits & SIGN else ~bits
        memcpy(&d, &bits, 8)
        at[0] = p + 9
        return d
    if p[0] == TAG_BOOL:
        at[0] = p + 2
        return p[1] == 1
    if p[0] == TAG_NULL:
        at[0] = p + 1
        return None
    return decode_str(p + 1, at)


cdef tuple values_of(const char* key, Py_ssize_t size):
    """The Python values of an encoded key, in order."""
    cdef const uint8_t* p = <const uint8_t*>key
    cdef const uint8_t* end = p + size
    cdef list out = []
    while p < end:
        out.append(next_value(&p))
    return tuple(out)


cdef class Column:
    """One column of a batch as raw buffers: string (offsets + bytes), int64, float64 or bool."""

    cdef int kind  # 0 string, 1 int, 2 float, 3 bool
    cdef object keep  # the arrays the pointers read
    cdef const int32_t* offsets
    cdef const char* data
    cdef const uint8_t* valid  # NULL: no nulls

    def __init__(self, str kind, values, offsets=None, valid=None):
        cdef const uint8_t[::1] v = values
        cdef const int32_t[::1] o
        cdef const uint8_t[::1] ok
        self.kind = ("string", "int", "float", "bool").index(kind)
        self.keep = (values, offsets, valid)
        self.data = <const char*>&v[0] if v.shape[0] else NULL
        self.offsets = NULL
        if offsets is not None:
            o = offsets
            self.offsets = &o[0]
        self.valid = NULL
        if valid is not None:
            ok = valid
            self.valid = &ok[0] if ok.shape[0] else NULL

    cdef int put(self, Buffer* b, Py_ssize_t row) except -1:
        if self.valid != NULL and not self.valid[row]:
            return put_tag(b, TAG_NULL, 0)
        if self.kind == 0:
            return put_str(
                b, self.data + self.offsets[row], self.offsets[row + 1] - self.offsets[row]
            )
        if self.kind == 1:
            return put_int(b, (<const int64_t*>self.data)[row])
        if self.kind == 2:
            return put_float(b, (<const double*>self.data)[row])
        return put_tag(b, TAG_BOOL, (<const uint8_t*>self.data)[row])


_KINDS = {pa.string(): "string", pa.int64(): "int", pa.float64(): "float", pa.bool_(): "bool"}


def column_of(array):
    """A :class:`Column` over an Arrow array's buffers (a chunked one is combined first)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = _KINDS[array.type]
    rows, start = len(array), array.offset
    valid = None
    if array.null_count:
        valid = array.is_valid().to_numpy(zero_copy_only=False).view(np.uint8)
    buffers = array.buffers()
    if kind == "string":
        offsets = np.frombuffer(buffers[1], dtype=np.int32)[start : start + rows + 1]
        data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else b""
        return Column(kind, data, offsets, valid)
    if kind == "bool":
        values = array.fill_null(False).to_numpy(zero_copy_only=False).view(np.uint8)
    else:
        width = 8
        values = np.frombuffer(buffers[1], dtype=np.uint8)[start * width : (start + rows) * width]
    return Column(kind, values, None, valid)


# -- a hash table of byte keys -----------------------------------------------------------------

cdef enum:
    #: keys up to this size live in their entry (one cache miss less, no allocation)
    INLINE_KEY = 24


cdef union KeyBytes:
    char* heap  # a longer key
    char inline[INLINE_KEY]


cdef struct Entry:
    uint64_t hash
    int64_t value  # free entries: the next free entry (-1: none)
    Py_ssize_t size  # -1: a free entry
    KeyBytes key


cdef inline const char* key_of(const Entry* entry) noexcept:
    return entry.key.heap if entry.size > INLINE_KEY else entry.key.inline


cdef inline void free_key(Entry* entry) noexcept:
    if entry.size > INLINE_KEY:
        PyMem_Free(entry.key.heap)
    entry.size = -1


cdef struct Slot:
    uint32_t hash  # the entry's hash, low 32 bits: its home slot and a fingerprint
    int32_t entry  # -1: a free slot


cdef enum:
    #: entries at most (their numbers are int32, and a slot's hash holds its home's bits)
    MAX_ENTRIES = 1 << 30


cdef class KeyTable:
    """Byte keys -> stable entry numbers (reused once freed), each with an int64 value.

    Open addressing with linear probing over slots holding an entry number and the low bits of
    its hash: a probe compares those first, so looking up an absent key (most event ids) reads
    no entry at all. Deletion shifts back (no tombstones). Hashes are Python's keyed SipHash of
    the bytes: ids come from the stream, so colliding keys cannot be forged to slow the table
    down.
    """

    cdef Entry* entries
    cdef Py_ssize_t capacity  # entries allocated
    cdef Py_ssize_t top  # entries ever used: numbers below it
    cdef Py_ssize_t used  # live entries
    cdef int64_t free_head
    cdef Slot* index
    cdef Py_ssize_t mask
    cdef Buffer scratch  # the key being built

    def __cinit__(self):
        self.free_head = -1
        self.mask = 7
        self.index = <Slot*>PyMem_Malloc(8 * sizeof(Slot))
        if self.index == NULL:
            raise MemoryError()
        for i in range(8):
            self.index[i] = Slot(0, -1)

    def __dealloc__(self):
        cdef Py_ssize_t e
        for e in range(self.top):
            free_key(&self.entries[e])
        PyMem_Free(self.entries)
        PyMem_Free(self.index)
        PyMem_Free(self.scratch.data)

    def __len__(self):
        return self.used

    @property
    def slots(self):
        """How many entry numbers are in use or free (state arrays need this many rows)."""
        return self.capacity

    cdef Py_ssize_t find(self, const char* key, Py_ssize_t size, uint64_t h) noexcept:
        cdef Py_ssize_t i = h & self.mask
        cdef uint32_t low = <uint32_t>h
        cdef Slot slot
        cdef Entry* entry
        while True:
            slot = self.index[i]
            if slot.entry < 0:
                return -1
            if slot.hash == low:
                entry = &self.entries[slot.entry]
                if entry.hash == h and entry.size == size and memcmp(key_of(entry), key, size) == 0:
                    return slot.entry
            i = (i + 1) & self.mask

    cdef inline void fetch_ahead(self, const uint64_t* hashes, Py_ssize_t i, Py_ssize_t n) noexcept:
        """Start loading what deciding rows ahead of ``i`` reads: their index slots, the
        entries their fingerprints match, and the entry the next insertion takes. A batch's
        keys are scattered over the table: fetched this way the rows' cache misses overlap
        instead of following each other."""
        cdef Slot slot
        if i + AHEAD < n:
            prefetch(&self.index[hashes[i + AHEAD] & self.mask])
        if i + AHEAD // 2 < n:
            slot = self.index[hashes[i + AHEAD // 2] & self.mask]
            if slot.entry >= 0 and slot.hash == <uint32_t>hashes[i + AHEAD // 2]:
                prefetch(&self.entries[slot.entry])
        if self.free_head >= 0:
            prefetch(&self.entries[self.free_head])

    cdef Py_ssize_t insert(self, const char* key, Py_ssize_t size, uint64_t h, int64_t value) except -1:
        """A new entry for a key known to be absent."""
        cdef Py_ssize_t e, i
        cdef char* copy = NULL
        if self.used >= MAX_ENTRIES:
            raise MemoryError(f"a key table holds at most {MAX_ENTRIES:,} keys")
        if size > INLINE_KEY:
            copy = <char*>PyMem_Malloc(size)
            if copy == NULL:
                raise MemoryError()
            memcpy(copy, key, size)
        if 2 * (self.used + 1) > self.mask + 1:
            self._rehash(2 * (self.mask + 1))
        if self.free_head >= 0:
            e = self.free_head
            self.free_head = self.entries[e].value
        else:
            if self.top == self.capacity:
                self._grow(max(64, 2 * self.capacity))
            e = self.top
            self.top += 1
        self.entries[e].size = size
        if copy != NULL:
            self.entries[e].key.heap = copy
        else:
            memcpy(self.entries[e].key.inline, key, size)
        self.entries[e].hash, self.entries[e].value = h, value
        i = h & self.mask
        while self.index[i].entry >= 0:
            i = (i + 1) & self.mask
        self.index[i] = Slot(<uint32_t>h, <int32_t>e)
        self.used += 1
        return e

    cdef void remove(self, Py_ssize_t e) noexcept:
        cdef Py_ssize_t i = self.entries[e].hash & self.mask
        cdef Py_ssize_t j, home
        cdef Slot f
        while self.index[i].entry != e:
            i = (i + 1) & self.mask
        j = i
        while True:  # shift back the entries that probed past the hole
            j = (j + 1) & self.mask
            f = self.index[j]
            if f.entry < 0:
                break
            home = f.hash & self.mask
            if (j > i and (home <= i or home > j)) or (j < i and home <= i and home > j):
                self.index[i] = f
                i = j
        self.index[i] = Slot(0, -1)
        free_key(&self.entries[e])
        self.entries[e].value = self.free_head
        self.free_head = e
        self.used -= 1

    cdef void remove_all(self, const int64_t[::1] entries) noexcept:
        """Remove many entries, fetching the index slots of those ahead (see ``fetch_ahead``)."""
        cdef Py_ssize_t n = entries.shape[0], j
        for j in range(n):
            if j + AHEAD < n:
                prefetch(&self.entries[entries[j + AHEAD]])
            if j + AHEAD // 2 < n:
                prefetch(&self.index[self.entries[entries[j + AHEAD // 2]].hash & self.mask])
            self.remove(entries[j])

    cdef int _grow(self, Py_ssize_t capacity) except -1:
        cdef Entry* grown = <Entry*>PyMem_Realloc(self.entries, capacity * sizeof(Entry))
        if grown == NULL:
            raise MemoryError()
        self.entries, self.capacity = grown, capacity
        return 0

    cdef int _rehash(self, Py_ssize_t size) except -1:
        cdef Slot* index = <Slot*>PyMem_Malloc(size * sizeof(Slot))
        cdef Py_ssize_t i, e
        if index == NULL:
            raise MemoryError()
        for i in range(size):
            index[i] = Slot(0, -1)
        for e in range(self.top):
            if self.entries[e].size >= 0:
                i = self.entries[e].hash & (size - 1)
                while index[i].entry >= 0:
                    i = (i + 1) & (size - 1)
                index[i] = Slot(<uint32_t>self.entries[e].hash, <int32_t>e)
        PyMem_Free(self.index)
        self.index, self.mask = index, size - 1
        return 0

    cdef Py_ssize_t scratch_entry(self, int64_t value, bint create) except -2:
        """The entry of the key in ``scratch`` (created with ``value`` if absent and
        ``create``; else -1)."""
        cdef uint64_t h = <uint64_t>_Py_HashBytes(self.scratch.data, self.scratch.size)
        cdef Py_ssize_t e = self.find(self.scratch.data, self.scratch.size, h)
        if e < 0 and create:
            e = self.insert(self.scratch.data, self.scratch.size, h, value)
        return e

    def key(self, Py_ssize_t entry):
        """The values of an entry's key (a tuple)."""
        return values_of(key_of(&self.entries[entry]), self.entries[entry].size)

    def live(self):
        """The live entries' numbers, their values and keys' values, in entry order."""
        cdef Py_ssize_t e
        numbers, values, keys = [], [], []
        for e in range(self.top):
            if self.entries[e].size >= 0:
                numbers.append(e)
                values.append(self.entries[e].value)
                keys.append(values_of(key_of(&self.entries[e]), self.entries[e].size))
        return numbers, values, keys

    def add(self, key, int64_t value, bint keep_larger=False):
        """Enter a key (a tuple of values) with ``value``; an existing entry keeps the larger
        value when ``keep_larger``, else takes ``value``. Returns the entry number."""
        cdef Py_ssize_t e
        self.scratch.size = 0
        for part in key:
            put_object(&self.scratch, part)
        e = self.scratch_entry(value, False)
        if e < 0:
            return self.scratch_entry(value, True)
        if not keep_larger or self.entries[e].value < value:
            self.entries[e].value = value
        return e

    def clear(self):
        cdef Py_ssize_t e
        for e in range(self.top):
            if self.entries[e].size >= 0:
                self.remove(e)


# -- dedupe -------------------------------------------------------------------------------------

cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef struct Members:
    int64_t bucket
    int32_t* entries  # entries entered in the bucket (some may have moved on since)
    Py_ssize_t size, capacity


cdef class IdTable(KeyTable):
    """Event ids -> the bucket of their event time, each bucket listing its entries: forgetting
    old buckets visits their own entries only, not the whole table."""

    cdef Members* lists
    cdef Py_ssize_t n_lists, lists_capacity, last

    def __dealloc__(self):
        cdef Py_ssize_t i
        for i in range(self.n_lists):
            PyMem_Free(self.lists[i].entries)
        PyMem_Free(self.lists)

    cdef int enter(self, Py_ssize_t e, int64_t bucket) except -1:
        """Set an entry's bucket, and list it there."""
        cdef Members* members
        cdef void* grown
        self.entries[e].value = bucket
        if self.last >= self.n_lists or self.lists[self.last].bucket != bucket:
            self.last = 0
            while self.last < self.n_lists and self.lists[self.last].bucket != bucket:
                self.last += 1
            if self.last == self.n_lists:  # a new bucket
                if self.n_lists == self.lists_capacity:
                    self.lists_capacity = max(8, 2 * self.lists_capacity)
                    grown = PyMem_Realloc(self.lists, self.lists_capacity * sizeof(Members))
                    if grown == NULL:
                        raise MemoryError()
                    self.lists = <Members*>grown
                self.lists[self.n_lists] = Members(bucket, NULL, 0, 0)
                self.n_lists += 1
        members = &self.lists[self.last]
        if members.size == members.capacity:
            members.capacity = max(64, 2 * members.capacity)
            grown = PyMem_Realloc(members.entries, members.capacity * sizeof(int32_t))
            if grown == NULL:
                raise MemoryError()
            members.entries = <int32_t*>grown
        members.entries[members.size] = <int32_t>e
        members.size += 1
        return 0

    cdef inline void fetch_members(self, const Members* members, Py_ssize_t j) noexcept:
        """Start loading what forgetting members ahead of ``j`` reads: their entries, and the
        index slots of the entries fetched earlier."""
        cdef const Entry* entry
        if j + AHEAD < members.size:
            prefetch(&self.entries[members.entries[j + AHEAD]])
        if j + AHEAD // 2 < members.size:
            entry = &self.entries[members.entries[j + AHEAD // 2]]
            if entry.size >= 0:
                prefetch(&self.index[entry.hash & self.mask])

    def add(self, key, int64_t value, bint keep_larger=False):
        """As :meth:`KeyTable.add`, listing the entry in its bucket."""
        cdef Py_ssize_t e = KeyTable.add(self, key, value, keep_larger)
        if self.entries[e].value == value:
            self.enter(e, value)
        return e

    def remove_below(self, int64_t limit):
        """Forget every id whose bucket is below ``limit``; returns how many."""
        cdef Py_ssize_t i = 0, j, e, removed = 0
        cdef Members members
        while i < self.n_lists:
            members = self.lists[i]
            if members.bucket >= limit:
                i += 1
                continue
            for j in range(members.size):
                self.fetch_members(&members, j)
                e = members.entries[j]
                if self.entries[e].size >= 0 and self.entries[e].value == members.bucket:
                    self.remove(e)
                    removed += 1
            PyMem_Free(members.entries)
            self.n_lists -= 1
            self.lists[i] = self.lists[self.n_lists]
        self.last = 0
        return removed

    def clear(self):
        KeyTable.clear(self)
        self.remove_below(2**63 - 1)


def first_seen(
    IdTable table,
    Column ids,
    const int64_t[::1] times,
    const int64_t[::1] newest_before,
    int64_t horizon_ms,
    int64_t bucket_ms,
):
    """Mask of the records whose id was not seen in a bucket within the horizon before them;
    remembers each such id in its event time's bucket."""
    cdef Py_ssize_t n = times.shape[0], i, e
    keep = np.ones(n, dtype=np.uint8)
    cdef uint8_t[::1] out = keep
    cdef int64_t bucket, limit
    cdef uint64_t h
    cdef Keys keys
    try:
        encode_keys(&keys, [ids], NULL, n, NULL)
        for i in range(n):
            table.fetch_ahead(keys.hashes, i, n)
            bucket = floor_div(times[i], bucket_ms)
            h = keys.hashes[i]
            e = table.find(key_at(&keys, i), key_size(&keys, i), h)
            if e >= 0:
                limit = floor_div(newest_before[i] - horizon_ms, bucket_ms)
                if table.entries[e].value >= limit:
                    out[i] = 0
                    continue
            else:  # (else: seen again beyond the horizon, entered anew)
                e = table.insert(key_at(&keys, i), key_size(&keys, i), h, bucket)
            table.enter(e, bucket)
    finally:
        free_keys(&keys)
    return keep.view(np.bool_)


cdef struct Keys:
    uint64_t* hashes  # of each row's key
    Py_ssize_t* ends  # where each row's key ends in data (it starts where the previous ends)
    Buffer data


cdef int encode_keys(
    Keys* keys, list columns, const int64_t* starts, Py_ssize_t n, const int64_t* rows
) except -1:
    """The key of each of ``n`` rows (``starts``: a window start first, when not NULL; the
    columns read at ``rows``, when not NULL) and its hash, encoded before the table is walked
    so that the walk can fetch the rows ahead; free with :func:`free_keys`, even after an
    error."""
    cdef Py_ssize_t i
    cdef Column column
    keys.data.data, keys.data.size, keys.data.capacity = NULL, 0, 0
    keys.hashes = <uint64_t*>PyMem_Malloc(max(n, 1) * sizeof(uint64_t))
    keys.ends = <Py_ssize_t*>PyMem_Malloc(max(n, 1) * sizeof(Py_ssize_t))
    if keys.hashes == NULL or keys.ends == NULL:
        raise MemoryError()
    for i in range(n):
        if starts != NULL:
            put_int(&keys.data, starts[i])
        for column in columns:
            column.put(&keys.data, rows[i] if rows != NULL else i)
        keys.ends[i] = keys.data.size
    for i in range(n):
        keys.hashes[i] = <uint64_t>_Py_HashBytes(key_at(keys, i), key_size(keys, i))
    return 0


cdef inline const char* key_at(Keys* keys, Py_ssize_t i) noexcept:
    return keys.data.data + (keys.ends[i - 1] if i else 0)


cdef inline Py_ssize_t key_size(Keys* keys, Py_ssize_t i) noexcept:
    return keys.ends[i] - (keys.ends[i - 1] if i else 0)


cdef void free_keys(Keys* keys) noexcept:
    PyMem_Free(keys.hashes)
    PyMem_Free(keys.ends)
    PyMem_Free(keys.data.data)


# -- exact sums: limbs --------------------------------------------------------------------------

cdef enum:
    LIMB_BITS = 35
    LIMBS = 4
    UNIT = -80
    MAX_SHIFT = LIMB_BITS * LIMBS - 53 - 1


cdef inline bint split_value(double x, int64_t* limbs) noexcept:
    """The limbs of ``x`` in units of 2**UNIT; False when ``x`` is rare (outside them).

    ``x = M * 2**(e - 53)`` with ``M = m * 2**53`` and ``(m, e) = frexp(x)``; in units of
    2**UNIT, ``X = M << (e - 53 - UNIT)``: a shift of at least 0 (no bits below the unit) and at
    most 86 (X below 2**139, inside the four limbs)."""
    cdef int exponent, k
    cdef double mantissa = frexp(x, &exponent)
    cdef int64_t whole = <int64_t>nearbyint(mantissa * 9007199254740992.0)  # 2**53
    cdef int64_t shift = exponent - 53 - UNIT
    cdef uint64_t magnitude
    cdef int64_t offset
    for k in range(LIMBS):
        limbs[k] = 0
    if whole == 0:
        return True
    if shift < 0 or shift > MAX_SHIFT:
        return False
    magnitude = <uint64_t>(whole if whole > 0 else -whole)
    for k in range(LIMBS):
        offset = LIMB_BITS * k - shift  # the limb's lowest bit, in the mantissa's bits
        if offset >= 64 or offset <= -LIMB_BITS:
            limbs[k] = 0
        elif offset >= 0:
            limbs[k] = <int64_t>((magnitude >> offset) & <uint64_t>LIMB_MASK)
        else:
            limbs[k] = <int64_t>((magnitude & (<uint64_t>LIMB_MASK >> (-offset))) << (-offset))
        if whole < 0:
            limbs[k] = -limbs[k]
    return True


cdef inline void normalize_row(int64_t* limbs) noexcept:
    cdef int k
    cdef int64_t carry
    for k in range(LIMBS - 1):
        carry = limbs[k] >> LIMB_BITS  # floor, also for negative limbs
        limbs[k] -= carry << LIMB_BITS
        limbs[k + 1] += carry


cdef inline double limbs_value(const int64_t* limbs) noexcept:
    """The float of normalized limbs: one fixed sequence of float operations."""
    cdef double total = (<double>limbs[3]) * 40564819207303340847894502572032.0  # 2**105
    total = total + (<double>limbs[2]) * 1180591620717411303424.0  # 2**70
    total = total + (<double>limbs[1]) * 34359738368.0  # 2**35
    return (total + <double>limbs[0]) * 8.271806125530277e-25  # 2**-80


def split(const double[::1] values):
    """Limbs (n x 4 int64) of each value, zero for NaN (nulls) and rare ones; the rare mask."""
    cdef Py_ssize_t n = values.shape[0], i
    limbs = np.zeros((n, LIMBS), dtype=np.int64)
    rare = np.zeros(n, dtype=np.uint8)
    cdef int64_t[:, ::1] out = limbs
    cdef uint8_t[::1] flags = rare
    for i in range(n):
        if not isnan(values[i]) and not split_value(values[i], &out[i, 0]):
            flags[i] = 1
    return limbs, rare.view(np.bool_)


def normalize(int64_t[:, ::1] limbs):
    """Carries propagated in place, row by row (n x 4 limbs); returns them."""
    cdef Py_ssize_t i
    for i in range(limbs.shape[0]):
        normalize_row(&limbs[i, 0])
    return limbs.base


def value(int64_t l0, int64_t l1, int64_t l2, int64_t l3):
    """The float of one normalized row of limbs."""
    cdef int64_t limbs[4]
    limbs[0], limbs[1], limbs[2], limbs[3] = l0, l1, l2, l3
    return limbs_value(limbs)


# -- window states -------------------------------------------------------------------------------

cdef enum:
    COUNT = 0
    SUM = 1
    AVG = 2
    MIN = 3
    MAX = 4


cdef class SlotMetric:
    """One metric's state for every slot of a window operator."""

    cdef readonly str name

    def grow(self, Py_ssize_t capacity):
        pass

    cdef object state(self, Py_ssize_t slot):
        return None

    cdef object value(self, Py_ssize_t slot, object state):
        return None

    cdef void reset(self, Py_ssize_t slot) noexcept:
        pass

    def row(self, Py_ssize_t slot):
        """A slot's (state, value)."""
        state = self.state(slot)
        return state, self.value(slot, state)


cdef class NumericMetric(SlotMetric):
    """count, sum, min, max and avg as arrays by slot; float sums exactly, as limbs (the rare
    doubles outside the limbs' range are added in Python, per slot: ``rare``); integer sums
    and extremes as int64 (a float64 would round those past 2**53)."""

    cdef int kind
    cdef readonly str function  # count, sum, avg, min or max
    cdef readonly bint integer  # the field is an integer
    cdef readonly bint exact  # a float sum, as limbs
    cdef bint floating  # float extremes (fvalue, NaN: none yet); all else is in ivalue
    cdef readonly object values, counts, limbs_array
    cdef readonly dict rare  # slot -> the rare doubles' exact sum (units of 2**-1074)
    cdef object with_rare, rare_value  # exact.with_rare, exact.value
    cdef int64_t[::1] ivalue
    cdef double[::1] fvalue
    cdef int64_t[::1] count
    cdef int64_t[:, ::1] limbs

    def __init__(self, str name, str kind, bint integer, bint has_field, with_rare, rare_value):
        self.name, self.function = name, kind
        self.kind = ("count", "sum", "avg", "min", "max").index(kind)
        self.integer = integer
        self.exact = self.kind in (SUM, AVG) and has_field and not integer
        self.floating = self.kind in (MIN, MAX) and not integer
        self.rare = {}
        self.with_rare, self.rare_value = with_rare, rare_value
        self._arrays(
            np.zeros(0, dtype=np.float64 if self.floating else np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros((0, LIMBS), dtype=np.int64),
        )

    cdef _arrays(self, values, counts, limbs):
        self.values, self.counts, self.limbs_array = values, counts, limbs
        if self.floating:
            self.fvalue = values
        else:
            self.ivalue = values
        self.count = counts
        self.limbs = limbs

    def grow(self, Py_ssize_t capacity):
        cdef Py_ssize_t extra = capacity - self.values.shape[0]
        if extra <= 0:
            return
        fill = np.nan if self.floating else 0
        self._arrays(
            np.concatenate([self.values, np.full(extra, fill, dtype=self.values.dtype)]),
            np.concatenate([self.counts, np.zeros(extra, dtype=np.int64)]),
            np.concatenate([self.limbs_array, np.zeros((extra, LIMBS), dtype=np.int64)])
            if self.exact
            else self.limbs_array,
        )

    cdef void reset(self, Py_ssize_t slot) noexcept:
        cdef int k
        if self.floating:
            self.fvalue[slot] = NAN
        else:
            self.ivalue[slot] = 0
        self.count[slot] = 0
        if self.exact:
            for k in range(LIMBS):
                self.limbs[slot, k] = 0

    def fold(self, const int64_t[::1] slots, values, valid, condition, rows=None):
        """Fold rows into their slots: ``values`` (float64 or int64; None for count()),
        ``valid`` and ``condition`` (uint8, None: every row) are read at ``rows`` (int64, the
        row of each slot; None: the slots' positions). Returns the positions of rare doubles
        (exact sums: to be added with :meth:`add_rare`)."""
        cdef Py_ssize_t n = slots.shape[0], i, r, s
        cdef const int64_t[::1] at
        cdef bint selected = rows is not None
        cdef const uint8_t[::1] ok
        cdef const uint8_t[::1] when
        cdef const double[::1] floats
        cdef const int64_t[::1] ints
        cdef bint check_ok = valid is not None, check_when = condition is not None
        cdef bint float_values = values is not None and values.dtype == np.float64
        cdef double x
        cdef int64_t parts[4]
        cdef int64_t number
        cdef int k
        rare_rows = []
        if self.integer and float_values:
            raise TypeError(f"{self.name}: an integer field's values must be int64")
        if check_ok:
            ok = valid
        if check_when:
            when = condition
        if selected:
            at = rows
        if values is not None:
            if float_values:
                floats = values
            else:
                ints = values
        for i in range(n):
            if i + AHEAD < n:  # the slots are scattered: their state is fetched ahead
                self.fetch(slots[i + AHEAD])
            r = at[i] if selected else i
            if (check_ok and not ok[r]) or (check_when and not when[r]):
                continue
            s = slots[i]
            if self.kind == COUNT:
                self.ivalue[s] += 1
                continue
            if not (self.floating or self.exact):
                number = ints[r]
                if self.kind == MIN or self.kind == MAX:
                    if self.count[s] == 0 or (number < self.ivalue[s]) == (self.kind == MIN):
                        self.ivalue[s] = number
                else:  # int64, as the states are stored (wraps past its range)
                    self.ivalue[s] = <int64_t>(<uint64_t>self.ivalue[s] + <uint64_t>number)
                self.count[s] += 1
                continue
            x = floats[r] if float_values else <double>ints[r]
            if self.kind == MIN:
                self.fvalue[s] = fmin(self.fvalue[s], x)
            elif self.kind == MAX:
                self.fvalue[s] = fmax(self.fvalue[s], x)
            else:
                self.count[s] += 1
                if not split_value(x, parts):
                    rare_rows.append(i)
                    continue
                for k in range(LIMBS):
                    self.limbs[s, k] += parts[k]
                normalize_row(&self.limbs[s, 0])
        return rare_rows

    cdef inline void fetch(self, Py_ssize_t slot) noexcept:
        if self.floating:
            prefetch(&self.fvalue[slot])
            return
        if self.exact:
            prefetch(&self.count[slot])
            prefetch(&self.limbs[slot, 0])
            return
        prefetch(&self.ivalue[slot])
        if self.kind != COUNT:
            prefetch(&self.count[slot])

    def taken(self, slots):
        """A copy of ``slots``' states, row ``i`` holding slot ``slots[i]``: closing windows
        are read from it (as columns, or rows) after their slots are reset and reused."""
        cdef NumericMetric out = NumericMetric.__new__(NumericMetric)
        out.name, out.function, out.kind = self.name, self.function, self.kind
        out.integer, out.exact, out.floating = self.integer, self.exact, self.floating
        out.with_rare, out.rare_value = self.with_rare, self.rare_value
        out._arrays(
            self.values[slots],
            self.counts[slots],
            self.limbs_array[slots] if self.exact else self.limbs_array,
        )
        out.rare = {}
        if self.rare:
            for row, slot in enumerate(slots.tolist()):
                if slot in self.rare:
                    out.rare[row] = self.rare.pop(slot)  # the slot's next window starts at 0
        return out

    def final_values(self):
        """Every row's value, in bulk (no state is built for the common ones)."""
        cdef Py_ssize_t i, n = self.values.shape[0]
        cdef list out = PyList_New(n)
        cdef object value, total
        cdef double x
        for i in range(n):
            if self.kind == COUNT:
                value = self.ivalue[i]
            elif self.floating:
                x = self.fvalue[i]
                value = None if isnan(x) else x
            elif (self.kind == MIN or self.kind == MAX) and self.count[i]:
                value = self.ivalue[i]
            elif self.exact and self.count[i] and not (self.rare and i in self.rare):
                total = limbs_value(&self.limbs[i, 0])  # as value() computes it
                value = total if self.kind == SUM else total / self.count[i]
            else:
                value = self.value(i, self.state(i))
            Py_INCREF(value)
            PyList_SET_ITEM(out, i, value)
        return out

    def add_rare(self, Py_ssize_t slot, units):
        self.rare[slot] = self.rare.get(slot, 0) + units

    cdef object state(self, Py_ssize_t slot):
        cdef double x
        cdef object total
        if self.kind == COUNT:
            return self.ivalue[slot]
        if self.floating:
            x = self.fvalue[slot]
            return None if isnan(x) else x
        if self.count[slot] == 0:
            return None
        if self.kind == MIN or self.kind == MAX:
            return self.ivalue[slot]
        if self.exact:
            total = untracked((self.limbs[slot, 0], self.limbs[slot, 1], self.limbs[slot, 2], self.limbs[slot, 3]))
            if self.rare and slot in self.rare:  # a tuple as any other state the fold emits
                total = tuple(self.with_rare(total, self.rare[slot]))
        else:
            total = self.ivalue[slot]
        return total if self.kind == SUM else untracked((total, self.count[slot]))

    cdef object value(self, Py_ssize_t slot, object state):
        cdef object total
        if state is None or not (self.kind == SUM or self.kind == AVG):
            return state
        if not self.exact:
            return state if self.kind == SUM else state[0] / state[1]
        if self.rare and slot in self.rare:
            total = self.rare_value(state if self.kind == SUM else state[0])
        else:
            total = limbs_value(&self.limbs[slot, 0])
        return total if self.kind == SUM else total / self.count[slot]

    def load(self, Py_ssize_t slot, state, canonical):
        """Restore a slot from its plain state; ``canonical``: exact.add(total, None)."""
        cdef int k
        if state is None:
            return
        total, number = state if self.kind == AVG else (state, 1)
        if self.exact:
            limbs = canonical(total) or [0] * LIMBS
            for k in range(LIMBS):
                self.limbs[slot, k] = limbs[k]
            if len(limbs) > LIMBS:
                self.rare[slot] = int(limbs[LIMBS])
            self.count[slot] = number
        elif self.kind in (SUM, AVG):
            self.ivalue[slot], self.count[slot] = total, number
        elif self.kind == COUNT:
            self.ivalue[slot] = state
        elif self.floating:
            self.fvalue[slot] = state
        else:
            self.ivalue[slot], self.count[slot] = state, 1

    def states(self, slots):
        return [self.state(s) for s in slots]


cdef class PlainMetric(SlotMetric):
    """A metric whose state is a Python value per slot (distinct sets, sketches, first/last)."""

    cdef readonly list slots
    cdef object finish

    def __init__(self, str name, finish):
        self.name = name
        self.slots = []
        self.finish = finish

    def grow(self, Py_ssize_t capacity):
        self.slots.extend([None] * (capacity - len(self.slots)))

    cdef void reset(self, Py_ssize_t slot) noexcept:
        self.slots[slot] = None

    cdef object state(self, Py_ssize_t slot):
        return self.slots[slot]

    cdef object value(self, Py_ssize_t slot, object state):
        return self.finish(state)

    def states(self, slots):
        return [self.slots[s] for s in slots]

    def taken(self, slots):
        """A copy of ``slots``' states, row ``i`` holding slot ``slots[i]``."""
        out = PlainMetric(self.name, self.finish)
        out.slots = [self.slots[s] for s in slots.tolist()]
        return out

    def final_values(self):
        return [self.finish(state) for state in self.slots]


def assign_slots(KeyTable table, const int64_t[::1] starts, list columns, rows=None):
    """The slot of each row's (window start, *group values), entering new ones; and the starts
    of the windows that got a new slot. ``starts[i]`` goes with the columns' row ``rows[i]``
    (None: ``i``)."""
    cdef Py_ssize_t n = starts.shape[0], i, e
    slots = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] out = slots
    cdef const int64_t[::1] at
    cdef bint selected = rows is not None
    cdef uint64_t h
    if selected:
        at = rows
    cdef set new_starts = set()
    cdef int64_t last_new = 0
    cdef Keys keys
    try:
        encode_keys(&keys, columns, &starts[0] if n else NULL, n, &at[0] if selected and n else NULL)
        for i in range(n):
            table.fetch_ahead(keys.hashes, i, n)
            h = keys.hashes[i]
            e = table.find(key_at(&keys, i), key_size(&keys, i), h)
            if e < 0:
                e = table.insert(key_at(&keys, i), key_size(&keys, i), h, starts[i])
                if not new_starts or starts[i] != last_new:
                    new_starts.add(starts[i])
                    last_new = starts[i]
            out[i] = e
    finally:
        free_keys(&keys)
    return slots, new_starts


def record_fields(list records):
    """The payloads (field 0) and arrival times in ms (field 4) of raw records (named tuples),
    without Python code per record."""
    cdef Py_ssize_t n = len(records), i
    cdef list payloads = PyList_New(n)
    arrivals = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] at = arrivals
    cdef object record, data
    for i in range(n):
        if i + AHEAD < n:  # records are scattered over the heap: fetched ahead
            prefetch(PyList_GET_ITEM(records, i + AHEAD))
        record = <object>PyList_GET_ITEM(records, i)
        if not isinstance(record, tuple) or PyTuple_GET_SIZE(record) < 5:
            raise TypeError(f"record {i} is not a RawRecord")
        data = <object>PyTuple_GET_ITEM(record, 0)
        Py_INCREF(data)
        PyList_SET_ITEM(payloads, i, data)
        at[i] = <object>PyTuple_GET_ITEM(record, 4)
    return payloads, arrivals


cdef inline bint ascii_space(uint8_t c) noexcept:
    return c == c' ' or c == c'\t' or c == c'\n' or c == c'\r' or c == 0x0B or c == 0x0C


cdef Py_ssize_t decimal(int64_t value, char* out) noexcept:
    """Writes ``value`` in decimal (as ``%d``) to ``out`` (room for 20 characters)."""
    cdef char digits[20]
    cdef Py_ssize_t n = 0, k
    cdef uint64_t v = <uint64_t>value
    if value < 0:
        v = 0 - v  # two's complement: the magnitude, INT64_MIN included
    while True:
        digits[n] = <char>(c'0' + v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    k = 0
    if value < 0:
        out[0] = c'-'
        k = 1
    while n:
        n -= 1
        out[k] = digits[n]
        k += 1
    return k


cdef bytes lake_row(const char* data, Py_ssize_t size, bytes head, const char* sequence,
                    Py_ssize_t sequence_size, int64_t sub_sequence):
    """An event's lake row (see :func:`pipeline.core.results.event_row`); ``head``: the text
    from the shard id's key to the sequence number's opening quote."""
    cdef const char* middle = b'","sub_sequence_number":'
    cdef Py_ssize_t m = 24, digits  # len(middle)
    cdef char number[24]
    cdef char* out
    while size and ascii_space(<uint8_t>data[size - 1]):  # as bytes.rstrip()
        size -= 1
    if size:
        size -= 1  # its closing brace
    digits = decimal(sub_sequence, number)
    row = PyBytes_FromStringAndSize(NULL, size + len(head) + sequence_size + m + digits + 1)
    out = PyBytes_AS_STRING(row)
    memcpy(out, data, size)
    out += size
    memcpy(out, PyBytes_AS_STRING(head), len(head))
    out += len(head)
    memcpy(out, sequence, sequence_size)
    out += sequence_size
    memcpy(out, middle, m)
    out += m
    memcpy(out, number, digits)
    out[digits] = c'}'
    return row


cdef bytes row_head(str shard_id):
    return b',"shard_id":"' + shard_id.encode() + b'","sequence_number":"'


def record_rows(list records, str shard_id):
    """The lake row of each raw record (named tuples: data, key, sequence number, sub-sequence
    number)."""
    cdef bytes head = row_head(shard_id)
    cdef Py_ssize_t n = len(records), i, size
    cdef const char* sequence
    cdef list rows = PyList_New(n)
    for i in range(n):
        record = <object>PyList_GET_ITEM(records, i)
        data = record[0] if PyBytes_Check(record[0]) else bytes(record[0])
        sequence = PyUnicode_AsUTF8AndSize(record[2], &size)
        row = lake_row(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), head, sequence, size, record[3])
        Py_INCREF(row)
        PyList_SET_ITEM(rows, i, row)
    return rows


def batch_rows(const uint8_t[::1] buffer, const int64_t[:, ::1] fields, str shard_id):
    """The lake row of each record of a RecordBatch (``buffer`` and ``rows``, see
    pipeline.core.records), straight from its buffer."""
    cdef bytes head = row_head(shard_id)
    cdef Py_ssize_t n = fields.shape[0], i, start, end, s0, s1
    cdef const char* base
    cdef list rows = PyList_New(n)
    if n and fields.shape[1] < 8:
        raise ValueError("a RecordBatch's fields have 8 columns")
    if buffer.shape[0]:
        base = <const char*>&buffer[0]
    else:
        base = b""  # its spans are all empty
    for i in range(n):
        start, end, s0, s1 = fields[i, 0], fields[i, 1], fields[i, 4], fields[i, 5]
        if not (0 <= start <= end <= buffer.shape[0] and 0 <= s0 <= s1 <= buffer.shape[0]):
            raise IndexError(f"record {i}'s spans are outside the buffer")
        row = lake_row(base + start, end - start, head, base + s0, s1 - s0, fields[i, 6])
        Py_INCREF(row)
        PyList_SET_ITEM(rows, i, row)
    return rows


def take(list items, const int32_t[::1] rows):
    """``[items[i] for i in rows]``, without a Python int per row."""
    cdef Py_ssize_t n = rows.shape[0], i, size = len(items)
    cdef list out = PyList_New(n)
    cdef object item
    for i in range(n):
        if not 0 <= rows[i] < size:
            raise IndexError(f"row {rows[i]} of {size} items")
        item = <object>PyList_GET_ITEM(items, rows[i])
        Py_INCREF(item)
        PyList_SET_ITEM(out, i, item)
    return out


def starting_with(payloads, bytes prefix):
    """The positions of the payloads that start with ``prefix`` (a list of bytes-like
    objects, or spans of one buffer as :meth:`RecordScanner.scan` takes)."""
    cdef Py_ssize_t i, size = len(prefix)
    cdef object payload
    cdef const char* wanted = PyBytes_AS_STRING(prefix)
    cdef const uint8_t[::1] buffer
    cdef const int64_t[:, ::1] spans
    found = []
    if type(payloads) is not list:
        buffer, spans = payloads.buffer, payloads.rows
        for i in range(spans.shape[0]):
            if not 0 <= spans[i, 0] <= spans[i, 1] <= buffer.shape[0]:
                raise IndexError(f"payload {i}'s span is outside the buffer")
            if spans[i, 1] - spans[i, 0] >= size and memcmp(&buffer[spans[i, 0]], wanted, size) == 0:
                found.append(i)
        return found
    for i in range(len(payloads)):
        payload = <object>PyList_GET_ITEM(payloads, i)
        if not PyBytes_Check(payload):  # another bytes-like object
            if bytes(payload[:size]) == prefix:
                found.append(i)
        elif PyBytes_GET_SIZE(payload) >= size and memcmp(PyBytes_AS_STRING(payload), wanted, size) == 0:
            found.append(i)
    return found


cdef struct Ordered:
    const char* key
    Py_ssize_t size
    Py_ssize_t slot


cdef int by_key(const void* a, const void* b) noexcept nogil:
    cdef const Ordered* x = <const Ordered*>a
    cdef const Ordered* y = <const Ordered*>b
    cdef int c = memcmp(x.key, y.key, min(x.size, y.size))
    if c:
        return c
    return (x.size > y.size) - (x.size < y.size)


def closing_slots(KeyTable table, int64_t last_start):
    """Slots of the windows starting at or before ``last_start``, ordered by start then group
    (Python's order of the values, None last)."""
    cdef Py_ssize_t e, n = 0
    cdef int64_t[::1] out
    cdef Ordered* order = <Ordered*>PyMem_Malloc(max(table.used, 1) * sizeof(Ordered))
    if order == NULL:
        raise MemoryError()
    try:
        for e in range(table.top):
            if table.entries[e].size >= 0 and table.entries[e].value <= last_start:
                order[n].key, order[n].size = key_of(&table.entries[e]), table.entries[e].size
                order[n].slot = e
                n += 1
        qsort(order, n, sizeof(Ordered), by_key)
        slots = np.empty(n, dtype=np.int64)
        out = slots
        for e in range(n):
            out[e] = order[e].slot
        return slots
    finally:
        PyMem_Free(order)


def emit(KeyTable table, const int64_t[::1] slots, list metrics, Py_ssize_t groups):
    """Close ``slots``, in their order, as columns: the windows' starts (a list), the values of
    each of the ``groups`` group-by fields (a list each) and each metric's states
    (:meth:`NumericMetric.taken`); then forget them. A closing batch holds windows by the
    hundred thousand: columns are built in bulk, and a row becomes objects only when read."""
    cdef Py_ssize_t n = slots.shape[0], i, g, slot
    cdef const uint8_t* at
    cdef list starts = PyList_New(n), columns = [PyList_New(n) for g in range(groups)]
    cdef object start = None, value
    taken = [metric.taken(slots.base) for metric in metrics]
    for i in range(n):
        slot = slots[i]
        if i + AHEAD < n:
            prefetch(&table.entries[slots[i + AHEAD]])
        if start is None or table.entries[slot].value != <int64_t>start:
            start = table.entries[slot].value  # the results of a window share its start's int
        Py_INCREF(start)
        PyList_SET_ITEM(starts, i, start)
        at = <const uint8_t*>key_of(&table.entries[slot]) + 9  # past the start
        for g in range(groups):
            value = next_value(&at)
            Py_INCREF(value)
            PyList_SET_ITEM(<list>columns[g], i, value)
    for metric in metrics:
        for i in range(n):
            (<SlotMetric>metric).reset(slots[i])
    table.remove_all(slots)
    return starts, columns, taken


cdef inline object untracked(object filled):
    """A filled tuple no longer followed by the cyclic GC when none of its items is (as the GC
    itself does to such tuples, later): results are many, and often kept a while."""
    cdef Py_ssize_t i
    for i in range(PyTuple_GET_SIZE(filled)):
        if PyObject_GC_IsTracked(<object>PyTuple_GET_ITEM(filled, i)):
            return filled
    PyObject_GC_UnTrack(<void*>filled)
    return filled


# -- JSON records to columns ---------------------------------------------------------------------

cdef enum:
    F_STRING = 0
    F_INT = 1
    F_FLOAT = 2
    F_BOOL = 3

cdef extern from *:
    """
    static const double POW10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
        1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    """
    const double POW10[23]


cdef struct FieldSpec:
    const char* name
    Py_ssize_t name_size
    int type  # F_*
    bint required
    bint has_lo, has_hi, hi_exclusive
    double lo, hi  # float bounds
    int64_t ilo, ihi  # int bounds (inclusive)
    Py_ssize_t min_length, max_length  # code points; max -1: none
    Py_ssize_t column  # output column, -1: validated only


cdef struct Value:
    bint present, null
    const char* text
    Py_ssize_t size
    int64_t i
    double f


cdef inline const char* skip_ws(const char* p, const char* end) noexcept:
    while p < end and (p[0] == c' ' or p[0] == b'\n' or p[0] == b'\r' or p[0] == b'\t'):
        p += 1
    return p


cdef extern from *:
    """
    #define KPIPE_ONES 0x0101010101010101ULL
    #define KPIPE_HIGHS 0x8080808080808080ULL
    /* The first byte from q that is a control character, non-ASCII, a quote or a backslash
       (or stop), eight bytes at a time: in each test the lowest flagged byte is exact. */
    static inline const unsigned char* kpipe_skip_plain(
            const unsigned char* q, const unsigned char* stop) {
        while (q + 8 <= stop) {
            uint64_t w, quote, slash, special;
            memcpy(&w, q, 8);
            quote = w ^ (KPIPE_ONES * 0x22);
            slash = w ^ (KPIPE_ONES * 0x5C);
            special = (w | ((w - KPIPE_ONES * 0x20) & ~w) | ((quote - KPIPE_ONES) & ~quote)
                       | ((slash - KPIPE_ONES) & ~slash)) & KPIPE_HIGHS;
            if (special) return q + (__builtin_ctzll(special) >> 3);
            q += 8;
        }
        while (q < stop && *q >= 0x20 && *q < 0x80 && *q != 0x22 && *q != 0x5C) q++;
        return q;
    }
    """
    const uint8_t* skip_plain "kpipe_skip_plain"(const uint8_t* q, const uint8_t* stop) noexcept


cdef inline bint same_bytes(const char* a, const char* b, Py_ssize_t size) noexcept:
    """Short keys compared inline (a call to memcmp costs more than they do)."""
    cdef Py_ssize_t i
    for i in range(size):
        if a[i] != b[i]:
            return False
    return True


cdef const char* scan_string(const char* p, const char* end, Py_ssize_t* points) noexcept:
    """After the opening quote: the closing quote, or NULL for anything the fast path leaves to
    msgspec (escapes, control characters, invalid UTF-8, no end)."""
    cdef const uint8_t* q = <const uint8_t*>p
    cdef const uint8_t* stop = <const uint8_t*>end
    cdef const uint8_t* plain
    cdef uint8_t c
    cdef int more
    cdef Py_ssize_t n = 0
    while True:
        plain = skip_plain(q, stop)
        n += plain - q
        q = plain
        if q >= stop:
            return NULL
        c = q[0]
        if c == c'"':
            points[0] = n
            return <const char*>q
        if c < 0x80:  # a control character or a backslash
            return NULL
        n += 1
        if 0xC2 <= c <= 0xDF:
            more = 1
        elif 0xE0 <= c <= 0xEF:
            more = 2
            if q + 1 >= stop or (c == 0xE0 and q[1] < 0xA0) or (c == 0xED and q[1] > 0x9F):
                return NULL
        elif 0xF0 <= c <= 0xF4:
            more = 3
            if q + 1 >= stop or (c == 0xF0 and q[1] < 0x90) or (c == 0xF4 and q[1] > 0x8F):
                return NULL
        else:
            return NULL
        if q + more >= stop:
            return NULL
        for k in range(1, more + 1):
            if q[k] & 0xC0 != 0x80:
                return NULL
        q += more + 1


cdef const char* scan_number(const char* p, const char* end, Value* v, bint* integer) noexcept:
    """A JSON number (strict grammar); NULL when malformed or beyond the fast path (integers of
    more than 18 digits, huge exponents, overflow)."""
    cdef const char* start = p
    cdef bint negative = False
    cdef uint64_t mantissa = 0
    cdef int significant = 0, exponent = 0, e = 0, e_sign = 1
    cdef char text[64]
    if p < end and p[0] == c'-':
        negative = True
        p += 1
    if p >= end or not (c'0' <= p[0] <= c'9'):
        return NULL
    if p[0] == c'0':
        p += 1
    else:
        while p < end and c'0' <= p[0] <= c'9':
            if significant < 19:
                mantissa = mantissa * 10 + (p[0] - c'0')
            significant += 1
            p += 1
    integer[0] = True
    if p < end and p[0] == c'.':
        integer[0] = False
        p += 1
        if p >= end or not (c'0' <= p[0] <= c'9'):
            return NULL
        while p < end and c'0' <= p[0] <= c'9':
            if mantissa or p[0] != c'0':  # leading zeros are not significant
                if significant < 19:
                    mantissa = mantissa * 10 + (p[0] - c'0')
                significant += 1
            if significant <= 19:
                exponent -= 1
            p += 1
    if p < end and (p[0] == c'e' or p[0] == c'E'):
        integer[0] = False
        p += 1
        if p < end and (p[0] == c'+' or p[0] == c'-'):
            e_sign = -1 if p[0] == c'-' else 1
            p += 1
        if p >= end or not (c'0' <= p[0] <= c'9'):
            return NULL
        while p < end and c'0' <= p[0] <= c'9':
            if e < 10000:
                e = e * 10 + (p[0] - c'0')
            p += 1
        exponent += e_sign * e
    if integer[0]:
        if significant > 18:
            return NULL
        v.i = -<int64_t>mantissa if negative else <int64_t>mantissa
        v.f = <double>v.i
        return p
    if significant <= 15 and -22 <= exponent <= 22:  # exact operands: one correctly rounded op
        if exponent >= 0:
            v.f = <double>mantissa * POW10[exponent]
        else:
            v.f = <double>mantissa / POW10[-exponent]
        if negative:
            v.f = -v.f
        return p
    if p - start >= 64 or not -300 < exponent < 300:
        return NULL
    memcpy(text, start, p - start)
    text[p - start] = 0
    v.f = PyOS_string_to_double(text, NULL, NULL)  # correctly rounded
    if PyErr_Occurred():
        PyErr_Clear()
        return NULL
    if v.f != v.f or v.f > 1.7976931348623157e308 or v.f < -1.7976931348623157e308:
        return NULL
    return p


cdef const char* skip_scalar(const char* p, const char* end) noexcept:
    """An unknown field's value: a string, number, true, false or null (else NULL)."""
    cdef Py_ssize_t points
    cdef Value v
    cdef bint integer
    if p >= end:
        return NULL
    if p[0] == c'"':
        p = scan_string(p + 1, end, &points)
        return NULL if p == NULL else p + 1
    if p[0] == c't':
        return p + 4 if end - p >= 4 and memcmp(p, b"true", 4) == 0 else NULL
    if p[0] == c'f':
        return p + 5 if end - p >= 5 and memcmp(p, b"false", 5) == 0 else NULL
    if p[0] == c'n':
        return p + 4 if end - p >= 4 and memcmp(p, b"null", 4) == 0 else NULL
    return scan_number(p, end, &v, &integer)


cdef const char* scan_value(const char* p, const char* end, FieldSpec* f, Value* v) noexcept:
    """A declared field's value, validated as its struct field would be; NULL: not surely
    valid (msgspec decides)."""
    cdef Py_ssize_t points
    cdef bint integer
    v.present, v.null = True, False
    if p < end and p[0] == c'n' and end - p >= 4 and memcmp(p, b"null", 4) == 0:
        v.null = True
        return NULL if f.required else p + 4
    if f.type == F_STRING:
        if p >= end or p[0] != c'"':
            return NULL
        v.text = p + 1
        p = scan_string(p + 1, end, &points)
        if p == NULL or points < f.min_length or (f.max_length >= 0 and points > f.max_length):
            return NULL
        v.size = p - v.text
        return p + 1
    if f.type == F_BOOL:
        if p < end and p[0] == c't' and end - p >= 4 and memcmp(p, b"true", 4) == 0:
            v.i = 1
            return p + 4
        if p < end and p[0] == c'f' and end - p >= 5 and memcmp(p, b"false", 5) == 0:
            v.i = 0
            return p + 5
        return NULL
    p = scan_number(p, end, v, &integer)
    if p == NULL:
        return NULL
    if f.type == F_INT:
        if not integer or (f.has_lo and v.i < f.ilo) or (f.has_hi and v.i > f.ihi):
            return NULL
        return p
    if (f.has_lo and not v.f >= f.lo) or (f.has_hi and not (v.f < f.hi if f.hi_exclusive else v.f <= f.hi)):
        return NULL
    return p


cdef inline void fetch_payload(const void* payload) noexcept:
    """Start loading a payload's first 256 bytes (a typical record): the batch's bytes objects
    are scattered over the heap, and their misses overlap when fetched ahead."""
    cdef const char* p = <const char*>payload
    prefetch(p)
    prefetch(p + 64)
    prefetch(p + 128)
    prefetch(p + 192)


cdef class RecordScanner:
    """Decodes JSON records of one declared event type to columns, for the records it can
    prove valid: an object whose declared fields have valid values, each key once, unknown
    fields scalar, no escapes, valid UTF-8. Every other record is left to the strict msgspec
    decoder (``slow``), which decides it and names its reason."""

    cdef FieldSpec* fields
    cdef Py_ssize_t n_fields
    cdef list outputs  # (name, type) of each output column
    cdef object keep  # the field names' bytes
    cdef Py_ssize_t time_field
    cdef int time_unit  # 1: ms, 1000: us, 0: seconds (float), -1: text (parsed in Python)

    def __init__(self, list specs, Py_ssize_t time_field, int time_unit):
        """``specs``: per declared field (name, type, required, lo, hi, hi_exclusive, min_length,
        max_length, output) with type in string/int/float/bool and None for no bound."""
        cdef FieldSpec* f
        self.n_fields = len(specs)
        self.fields = <FieldSpec*>PyMem_Malloc(max(self.n_fields, 1) * sizeof(FieldSpec))
        if self.fields == NULL:
            raise MemoryError()
        self.keep = [s[0].encode() for s in specs]
        self.outputs = []
        self.time_field, self.time_unit = time_field, time_unit
        for i, (name, kind, required, lo, hi, hi_exclusive, min_length, max_length, output) in enumerate(specs):
            f = &self.fields[i]
            f.name, f.name_size = PyBytes_AS_STRING(self.keep[i]), len(self.keep[i])
            f.type = ("string", "int", "float", "bool").index(kind)
            f.required, f.hi_exclusive = required, hi_exclusive
            f.has_lo, f.has_hi = lo is not None, hi is not None
            f.lo = lo if lo is not None else 0.0
            f.hi = hi if hi is not None else 0.0
            f.ilo = int(lo) if lo is not None and f.type == F_INT else 0
            f.ihi = int(hi) - (1 if hi_exclusive else 0) if hi is not None and f.type == F_INT else 0
            f.min_length = min_length or 0
            f.max_length = -1 if max_length is None else max_length
            f.column = -1
            if output:
                f.column = len(self.outputs)
                self.outputs.append((name, kind))

    def __dealloc__(self):
        PyMem_Free(self.fields)

    cdef bint scan_record(self, const char* p, const char* end, Value* values) noexcept:
        cdef Py_ssize_t k, j, seen_unknown = 0
        cdef FieldSpec* f
        cdef const char* key
        cdef const char* unknown[16]
        cdef Py_ssize_t unknown_size[16]
        cdef Py_ssize_t points, size, guess = 0
        for k in range(self.n_fields):
            values[k].present = False
        p = skip_ws(p, end)
        if p >= end or p[0] != c'{':
            return False
        p = skip_ws(p + 1, end)
        while True:
            if p >= end or p[0] != c'"':
                return False
            key = p + 1
            p = scan_string(key, end, &points)
            if p == NULL:
                return False
            size = p - key
            p = skip_ws(p + 1, end)
            if p >= end or p[0] != c':':
                return False
            p = skip_ws(p + 1, end)
            k = -1
            if guess < self.n_fields:  # fields usually come in their declared order
                f = &self.fields[guess]
                if f.name_size == size and same_bytes(f.name, key, size):
                    k = guess
            if k < 0:
                for k in range(self.n_fields):
                    f = &self.fields[k]
                    if f.name_size == size and memcmp(f.name, key, size) == 0:
                        break
                else:
                    k = -1
            if k >= 0:
                guess = k + 1
                if values[k].present:
                    return False  # a key twice
                p = scan_value(p, end, f, &values[k])
            else:
                if seen_unknown == 16:
                    return False
                for j in range(seen_unknown):
                    if unknown_size[j] == size and memcmp(unknown[j], key, size) == 0:
                        return False
                unknown[seen_unknown], unknown_size[seen_unknown] = key, size
                seen_unknown += 1
                p = skip_scalar(p, end)
            if p == NULL:
                return False
            p = skip_ws(p, end)
            if p < end and p[0] == c',':
                p = skip_ws(p + 1, end)
                continue
            if p < end and p[0] == c'}':
                break
            return False
        if skip_ws(p + 1, end) != end:
            return False
        for k in range(self.n_fields):
            if self.fields[k].required and not values[k].present:
                return False
        return True

    def scan(self, payloads, Py_ssize_t max_bytes):
        """Columns of the records proven valid, and the indices of the others (``slow``).

        ``payloads``: a list of bytes, or spans of one buffer (``buffer``: uint8, ``rows``:
        int64 (n, 2) start and end, as :class:`pipeline.core.records.Payloads`).
        Returns ``(columns, times, rows, slow)``: per output column ``(values, valid, offsets)``
        (strings: UTF-8 bytes with int32 offsets), the event times in ms (text times: None),
        the input index of each row."""
        cdef bint listed = type(payloads) is list
        cdef const uint8_t[::1] buffer = None if listed else payloads.buffer
        cdef const int64_t[:, ::1] spans = None if listed else payloads.rows
        cdef Py_ssize_t n = len(payloads), i, k, rows = 0, c, n_out = len(self.outputs)
        cdef Value* values = <Value*>PyMem_Malloc(max(self.n_fields, 1) * sizeof(Value))
        cdef Value* kept = <Value*>PyMem_Malloc(max(n * n_out, 1) * sizeof(Value))
        cdef object payload
        cdef const char* p
        cdef Py_ssize_t size
        cdef FieldSpec* f
        times = np.empty(n, dtype=np.int64)
        index = np.empty(n, dtype=np.int32)
        cdef int64_t[::1] t = times
        cdef int32_t[::1] at = index
        cdef Value* time
        slow = []
        if not listed and (spans.shape[1] != 2 or n and spans.shape[0] != n):
            raise ValueError("payload spans must be (start, end) pairs")
        if values == NULL or kept == NULL:
            PyMem_Free(values)
            PyMem_Free(kept)
            raise MemoryError()
        try:
            for i in range(n):
                if listed:
                    if i + AHEAD < n:
                        fetch_payload(PyList_GET_ITEM(payloads, i + AHEAD))
                    payload = <object>PyList_GET_ITEM(payloads, i)
                    if not PyBytes_Check(payload):
                        slow.append(i)
                        continue
                    p, size = PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload)
                else:
                    if not 0 <= spans[i, 0] <= spans[i, 1] <= buffer.shape[0]:
                        raise IndexError(f"payload {i}'s span is outside the buffer")
                    p, size = <const char*>&buffer[0] + spans[i, 0], spans[i, 1] - spans[i, 0]
                if size > max_bytes or not self.scan_record(p, p + size, values):
                    slow.append(i)
                    continue
                for k in range(self.n_fields):
                    c = self.fields[k].column
                    if c >= 0:
                        kept[rows * n_out + c] = values[k]
                time = &values[self.time_field]
                if self.time_unit == 1:
                    t[rows] = time.i
                elif self.time_unit == 1000:
                    t[rows] = floor_div(time.i, 1000)
                elif self.time_unit == 0:
                    t[rows] = <int64_t>nearbyint(time.f * 1000.0)
                at[rows] = <int32_t>i
                rows += 1
            columns = [self._column(kept, rows, c) for c in range(n_out)]
        finally:
            PyMem_Free(values)
            PyMem_Free(kept)
        return columns, (times[:rows] if self.time_unit >= 0 else None), index[:rows], slow

    cdef tuple _column(self, Value* kept, Py_ssize_t rows, Py_ssize_t c):
        cdef Py_ssize_t n_out = len(self.outputs), r, total = 0
        cdef str kind = self.outputs[c][1]
        cdef bint text_kind = kind == "string"
        valid = np.empty(rows, dtype=np.uint8)
        cdef uint8_t[::1] ok = valid
        cdef Value* v
        cdef int64_t[::1] ints
        cdef double[::1] floats
        cdef uint8_t[::1] flags
        cdef int32_t[::1] at
        cdef uint8_t[::1] text
        offsets = None
        for r in range(rows):
            v = &kept[r * n_out + c]
            ok[r] = v.present and not v.null
            total += v.size if ok[r] and text_kind else 0
        if text_kind:
            if total > 2147483647:
                raise OverflowError("a batch's strings exceed 2 GiB: use smaller batches")
            offsets = np.empty(rows + 1, dtype=np.int32)
            values = np.empty(total, dtype=np.uint8)
            at, text = offsets, values
            total = 0
            for r in range(rows):
                v = &kept[r * n_out + c]
                at[r] = <int32_t>total
                if ok[r]:
                    memcpy(&text[total], v.text, v.size)
                    total += v.size
            at[rows] = <int32_t>total
        elif kind == "float":
            values = np.empty(rows, dtype=np.float64)
            floats = values
            for r in range(rows):
                floats[r] = kept[r * n_out + c].f if ok[r] else 0.0
        else:
            values = np.empty(rows, dtype=np.int64 if kind == "int" else np.uint8)
            if kind == "int":
                ints = values
                for r in range(rows):
                    ints[r] = kept[r * n_out + c].i if ok[r] else 0
            else:
                flags = values
                for r in range(rows):
                    flags[r] = <uint8_t>(kept[r * n_out + c].i if ok[r] else 0)
        return values, valid, offsets
