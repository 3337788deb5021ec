# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The MultiLangDaemon's ``processRecords`` lines parsed in C into a RecordBatch, the core's
records as columns (:mod:`consumers.kcl.framing` says which lines, and why).

A strict subset of JSON is read: the message's three fields and each record's six, each once,
strings without escapes, integers of at most 18 digits, ``data`` in padded standard base64. A
line outside it is left to amazon_kclpy (``parse`` returns None), so this parser never accepts
what amazon_kclpy would refuse, nor reads a value differently (tested against it).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_CheckBuffer, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memchr, memcmp, memcpy

import numpy as np

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* The value of each standard base64 character; -1 for any other byte. */
    static signed char KPIPE_B64[256];
    /* The 12 bits of each pair of characters (index: first | second << 8); -1 for a pair
       with any other byte: a quad is two lookups (128 KiB, read where base64 text goes). */
    static int16_t KPIPE_B64_PAIR[65536];
    static void kpipe_b64_init(void) {
        const char* alphabet =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        int i;
        for (i = 0; i < 256; i++) KPIPE_B64[i] = -1;
        for (i = 0; i < 64; i++) KPIPE_B64[(unsigned char)alphabet[i]] = (signed char)i;
        for (i = 0; i < 65536; i++) {
            signed char first = KPIPE_B64[i & 0xFF], second = KPIPE_B64[i >> 8];
            KPIPE_B64_PAIR[i] = (first < 0 || second < 0) ? -1 : (int16_t)((first << 6) | second);
        }
    }
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    #include <immintrin.h>
    #define KPIPE_SIMD 1
    /* Whether this CPU runs AVX2 (set once at import; tests turn it off to check the rest). */
    static int kpipe_avx2 = 0;
    /* Decodes 8 quads (32 characters -> 24 bytes) a step while 32 bytes fit below limit;
       the number of quads decoded, -1 when a character is outside the alphabet. Each byte's
       high nibble picks its class (lut_hi, one bit each) and the characters its low nibble
       allows (lut_lo: the bits of the classes it is not valid in), and the offset to its
       6-bit value (lut_roll; '/' is told from '+' by one less). Then two multiply-adds pack
       each quad's four 6-bit values into 24 bits, and two shuffles put the bytes in order. */
    __attribute__((target("avx2")))
    static Py_ssize_t kpipe_b64_avx2(const unsigned char* s, Py_ssize_t quads, char* out,
                                     const char* limit) {
        const __m256i lut_lo = _mm256_setr_epi8(
            0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B,
            0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A,
            0x1B, 0x1B, 0x1B, 0x1A);
        const __m256i lut_hi = _mm256_setr_epi8(
            0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
            0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
            0x10, 0x10, 0x10, 0x10);
        const __m256i lut_roll = _mm256_setr_epi8(
            0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
        const __m256i order = _mm256_setr_epi8(
            2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
            2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
        const __m256i nibble = _mm256_set1_epi8(0x0F), slash = _mm256_set1_epi8('/');
        const __m256i pairs = _mm256_set1_epi32(0x01400140), quad = _mm256_set1_epi32(0x00011000);
        Py_ssize_t done = 0;
        for (; quads - done >= 8 && limit - out >= 32; done += 8, s += 32, out += 24) {
            __m256i text = _mm256_loadu_si256((const __m256i*)s);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi32(text, 4), nibble);
            __m256i lo = _mm256_and_si256(text, nibble);
            __m256i v;
            if (!_mm256_testz_si256(_mm256_shuffle_epi8(lut_lo, lo), _mm256_shuffle_epi8(lut_hi, hi)))
                return -1;
            v = _mm256_add_epi8(hi, _mm256_cmpeq_epi8(text, slash));
            v = _mm256_add_epi8(text, _mm256_shuffle_epi8(lut_roll, v));
            v = _mm256_madd_epi16(_mm256_maddubs_epi16(v, pairs), quad);
            v = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, order), lanes);
            _mm256_storeu_si256((__m256i*)out, v);  /* its last 8 bytes are the next step's */
        }
        return done;
    }
    static void kpipe_simd_init(void) {
        __builtin_cpu_init();
        kpipe_avx2 = __builtin_cpu_supports("avx2");
    }
    static int kpipe_simd(int wanted) {
        if (wanted >= 0) kpipe_avx2 = wanted && __builtin_cpu_supports("avx2");
        return kpipe_avx2;
    }
    #else
    static void kpipe_simd_init(void) {}
    static int kpipe_simd(int wanted) { (void)wanted; return 0; }
    #endif
    /* Decodes `quads` whole quads of standard base64 from s into out (3 bytes each): with
       AVX2 eight at a step, otherwise (and the rest) two; 0 when a character is outside the
       alphabet. */
    static inline int kpipe_b64_quads(const unsigned char* s, Py_ssize_t quads, char* out,
                                      const char* limit) {
        Py_ssize_t i = 0;
    #ifdef KPIPE_SIMD
        if (kpipe_avx2) {
            i = kpipe_b64_avx2(s, quads, out, limit);
            if (i < 0) return 0;
            s += 4 * i;
            out += 3 * i;
        }
    #endif
        for (; i + 2 <= quads; i += 2, s += 8, out += 6) {
            int32_t a = KPIPE_B64_PAIR[s[0] | (s[1] << 8)], b = KPIPE_B64_PAIR[s[2] | (s[3] << 8)];
            int32_t c = KPIPE_B64_PAIR[s[4] | (s[5] << 8)], d = KPIPE_B64_PAIR[s[6] | (s[7] << 8)];
            uint64_t v;
            if ((a | b | c | d) < 0) return 0;
            v = ((uint64_t)a << 36) | ((uint64_t)b << 24) | ((uint64_t)c << 12) | (uint64_t)d;
            if (limit - out >= 8) {  /* one store; its last two bytes are the next step's */
                v = __builtin_bswap64(v << 16);
                memcpy(out, &v, 8);
            } else {
                out[0] = (char)(v >> 40); out[1] = (char)(v >> 32); out[2] = (char)(v >> 24);
                out[3] = (char)(v >> 16); out[4] = (char)(v >> 8); out[5] = (char)v;
            }
        }
        if (i < quads) {
            int32_t a = KPIPE_B64_PAIR[s[0] | (s[1] << 8)], b = KPIPE_B64_PAIR[s[2] | (s[3] << 8)];
            uint32_t v;
            if ((a | b) < 0) return 0;
            v = ((uint32_t)a << 12) | (uint32_t)b;
            out[0] = (char)(v >> 16); out[1] = (char)(v >> 8); out[2] = (char)v;
        }
        return 1;
    }
    /* Whether size bytes are all ASCII, eight at a time. */
    static inline int kpipe_ascii(const char* p, Py_ssize_t size) {
        uint64_t any = 0, w;
        Py_ssize_t i = 0;
        for (; i + 8 <= size; i += 8) { memcpy(&w, p + i, 8); any |= w; }
        for (; i < size; i++) any |= (unsigned char)p[i];
        return (any & 0x8080808080808080ULL) == 0;
    }
    """
    signed char B64 "KPIPE_B64"[256]
    bint ascii_text "kpipe_ascii"(const char* p, Py_ssize_t size) noexcept
    void b64_init "kpipe_b64_init"()
    void simd_init "kpipe_simd_init"()
    int simd_switch "kpipe_simd"(int wanted)
    bint b64_quads "kpipe_b64_quads"(const uint8_t* s, Py_ssize_t quads, char* out, const char* limit) noexcept

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #define KFRAME_ONES 0x0101010101010101ULL
    #define KFRAME_HIGHS 0x8080808080808080ULL
    /* The first byte from q that is a quote, a backslash or a control character (or stop),
       eight bytes at a time: in each test the lowest flagged byte is exact. */
    static inline const char* kframe_skip_plain(const char* from, const char* stop) {
        const unsigned char* q = (const unsigned char*)from;
        const unsigned char* end = (const unsigned char*)stop;
        while (q + 8 <= end) {
            uint64_t w, quote, slash, special;
            memcpy(&w, q, 8);
            quote = w ^ (KFRAME_ONES * 0x22);
            slash = w ^ (KFRAME_ONES * 0x5C);
            special = (((w - KFRAME_ONES * 0x20) & ~w) | ((quote - KFRAME_ONES) & ~quote)
                       | ((slash - KFRAME_ONES) & ~slash)) & KFRAME_HIGHS;
            if (special) return (const char*)(q + (__builtin_ctzll(special) >> 3));
            q += 8;
        }
        while (q < end && *q >= 0x20 && *q != 0x22 && *q != 0x5C) q++;
        return (const char*)q;
    }
    """
    const char* skip_plain "kframe_skip_plain"(const char* q, const char* stop) noexcept

b64_init()
simd_init()


def simd(enabled=None):
    """Whether base64 is decoded with AVX2 (detected at import); ``enabled`` turns it off, or
    back on where the CPU has it (the tests check both ways)."""
    return bool(simd_switch(-1 if enabled is None else int(bool(enabled))))

#: The fields of a message and of a record, in the order of their bits.
cdef tuple MESSAGE_KEYS = (b"action", b"records", b"millisBehindLatest")
cdef tuple RECORD_KEYS = (
    b"action",
    b"data",
    b"partitionKey",
    b"sequenceNumber",
    b"subSequenceNumber",
    b"approximateArrivalTimestamp",
)


cdef struct Cursor:
    const char* p
    const char* end


cdef inline void skip_ws(Cursor* c) noexcept:
    while c.p < c.end and (c.p[0] == c' ' or c.p[0] == c'\n' or c.p[0] == c'\r' or c.p[0] == c'\t'):
        c.p += 1


cdef inline bint expect(Cursor* c, char wanted) noexcept:
    skip_ws(c)
    if c.p < c.end and c.p[0] == wanted:
        c.p += 1
        return True
    return False


cdef bint string(Cursor* c, const char** start, Py_ssize_t* size) noexcept:
    """A string without escapes or control characters (its bytes, not yet UTF-8 checked)."""
    skip_ws(c)
    if c.p >= c.end or c.p[0] != c'"':
        return False
    c.p += 1
    start[0] = c.p
    c.p = skip_plain(c.p, c.end)
    if c.p >= c.end or c.p[0] != c'"':  # the end, a backslash or a control character
        return False
    size[0] = c.p - start[0]
    c.p += 1
    return True


cdef bint integer(Cursor* c, int64_t* value) noexcept:
    """A JSON integer of at most 18 digits (no fraction, no exponent)."""
    cdef bint negative = False
    cdef int digits = 0
    cdef int64_t v = 0
    skip_ws(c)
    if c.p < c.end and c.p[0] == c'-':
        negative = True
        c.p += 1
    if c.p >= c.end or not (c'0' <= c.p[0] <= c'9'):
        return False
    if c.p[0] == c'0':
        c.p += 1
    else:
        while c.p < c.end and c'0' <= c.p[0] <= c'9':
            v = v * 10 + (c.p[0] - c'0')
            digits += 1
            c.p += 1
            if digits > 18:
                return False
    if c.p < c.end and (c.p[0] == c'.' or c.p[0] == c'e' or c.p[0] == c'E'):
        return False
    value[0] = -v if negative else v
    return True


cdef int field(Cursor* c, tuple keys, int likely) noexcept:
    """The next key (as its position in ``keys``) and its colon; -1 when unknown. The key at
    ``likely`` (the one after the previous: writers keep an order) is compared first."""
    cdef const char* start
    cdef Py_ssize_t size, i
    if not string(c, &start, &size) or not expect(c, c':'):
        return -1
    if likely < len(keys) and same_key(<bytes>keys[likely], start, size):
        return likely
    for i in range(len(keys)):
        if same_key(<bytes>keys[i], start, size):
            return <int>i
    return -1


cdef inline bint same_key(bytes key, const char* start, Py_ssize_t size) noexcept:
    return PyBytes_GET_SIZE(key) == size and memcmp(PyBytes_AS_STRING(key), start, size) == 0


cdef bint text_is(Cursor* c, const char* wanted, Py_ssize_t wanted_size) noexcept:
    cdef const char* start
    cdef Py_ssize_t size
    return string(c, &start, &size) and size == wanted_size and memcmp(start, wanted, size) == 0


cdef Py_ssize_t base64_into(const char* text, Py_ssize_t size, char* out, const char* limit) noexcept:
    """Decodes padded standard base64 to ``out`` (``limit``: the end of the memory it may
    write, past the data too); the number of bytes, -1 when it is not such base64."""
    cdef Py_ssize_t pad = 0, n, i, k, o = 0, whole
    cdef const uint8_t* s = <const uint8_t*>text
    cdef unsigned int quad
    cdef signed char v
    if size % 4:
        return -1
    if size and s[size - 1] == c'=':
        pad = 2 if s[size - 2] == c'=' else 1
    n = size // 4 * 3 - pad
    whole = size // 4 - (1 if pad else 0)  # quads without padding: no test per character
    if not b64_quads(s, whole, out, limit):
        return -1
    o, s = 3 * whole, s + 4 * whole
    for i in range(4 * whole, size, 4):  # the padded last quad
        quad = 0
        for k in range(4):
            if i + k >= size - pad:
                v = 0
                if s[k] != c'=':
                    return -1
            else:
                v = B64[s[k]]
                if v < 0:
                    return -1
            quad = (quad << 6) | <unsigned int>v
        for k in range(3):
            if o < n:
                out[o] = <char>((quad >> (16 - 8 * k)) & 0xFF)
                o += 1
    return n  # as b64decode, the bits a padded end leaves over are ignored


cdef bint utf8(const char* start, Py_ssize_t size):
    """Whether the bytes are UTF-8 (ASCII ones, sequence numbers and most keys, at once)."""
    if ascii_text(start, size):
        return True
    try:
        PyUnicode_DecodeUTF8(start, size, NULL)
    except UnicodeDecodeError:
        return False
    return True


# A record's values: data, partition key, sequence number (strings), sub-sequence number and
# arrival time (integers); its "action" must be "record".
cdef enum:
    VALUES = 5


# Where a record's values are in the line (strings: their bytes between the quotes).
cdef struct Values:
    const char* text[3]
    Py_ssize_t size[3]
    int64_t number[2]


# The text around the values of a line's first record: literal[j] before its value j (the
# first from the record's brace), the last one to its closing brace. The daemon writes every
# record of a line alike, so the others are read by comparing that text and scanning only the
# values; a record written otherwise is read field by field.
cdef struct Shape:
    int count  # VALUES once learned
    int field[VALUES]  # the field (RECORD_KEYS position) of each value, in order
    const char* literal[VALUES + 1]
    Py_ssize_t literal_size[VALUES + 1]


cdef inline void boundary(Shape* learn, int* n, const char** mark, int k, const char* start, const char* stop) noexcept:
    """A value of field ``k`` at [start, stop): the literal text before it is learned."""
    if learn != NULL:
        learn.field[n[0]] = k
        learn.literal[n[0]], learn.literal_size[n[0]] = mark[0], start - mark[0]
        n[0] += 1
        mark[0] = stop


cdef bint any_record(Cursor* c, Values* v, Shape* learn) noexcept:
    """A record object field by field, in any order (False: outside the subset); its shape is
    learned into ``learn`` unless NULL."""
    cdef int seen = 0, k = -1, n = 0
    cdef const char* start
    cdef const char* mark
    cdef Py_ssize_t size
    skip_ws(c)
    mark = c.p
    if not expect(c, c'{'):
        return False
    while True:
        k = field(c, RECORD_KEYS, k + 1)
        if k < 0 or seen & (1 << k):
            return False
        seen |= 1 << k
        if k == 0:
            if not text_is(c, "record", 6):
                return False
        elif k == 4 or k == 5:
            skip_ws(c)
            start = c.p
            if not integer(c, &v.number[k - 4]):
                return False
            boundary(learn, &n, &mark, k, start, c.p)
        else:
            if not string(c, &start, &size):
                return False
            v.text[k - 1], v.size[k - 1] = start, size
            boundary(learn, &n, &mark, k, start, start + size)
        if expect(c, c','):
            continue
        if expect(c, c'}'):
            break
        return False
    if seen != 0b111111:
        return False
    if learn != NULL:
        learn.literal[n], learn.literal_size[n] = mark, c.p - mark
        learn.count = n
    return True


cdef bint shaped_record(Cursor* c, Values* v, Shape* shape) noexcept:
    """A record written as the shape's (False: read it field by field). Its text around the
    values is the shape's, so its keys, their order and punctuation are; its values are read
    with the same rules as :func:`any_record`'s."""
    cdef const char* p
    cdef const char* q
    cdef int j, k
    skip_ws(c)
    p = c.p
    for j in range(shape.count + 1):
        if c.end - p < shape.literal_size[j] or memcmp(p, shape.literal[j], shape.literal_size[j]):
            return False
        p += shape.literal_size[j]
        if j == shape.count:
            break
        k = shape.field[j]
        if k <= 3:  # a string: its literal text after it starts with the closing quote
            if k == 1:  # the data: base64 takes no escape or control character (it checks)
                q = <const char*>memchr(p, c'"', c.end - p)
                if q == NULL:
                    return False
            else:
                q = skip_plain(p, c.end)
                if q >= c.end or q[0] != c'"':
                    return False
            v.text[k - 1], v.size[k - 1] = p, q - p
            p = q
        else:
            c.p = p
            if not integer(c, &v.number[k - 4]):
                return False
            p = c.p
    c.p = p
    return True


# The columns of a batch's fields (pipeline.core.records.RecordBatch): the spans of the data,
# the partition key and the sequence number in its buffer, the sub-sequence number, the arrival.
cdef enum:
    FIELDS = 8


cdef struct Batch:
    char* buffer  # where a record's data (decoded), partition key and sequence number go
    const char* limit  # its end
    Py_ssize_t used
    int64_t* fields  # FIELDS per record
    Py_ssize_t count, capacity


# The shortest record the subset takes (every field, empty strings, one-digit integers, no
# space): a line of n bytes holds at most n // SHORTEST_RECORD + 1 records.
cdef enum:
    SHORTEST_RECORD = 121


cdef bint add(Batch* b, Values* v) noexcept:
    """Appends a record's values (False: outside the subset, or out of memory)."""
    cdef int64_t* row
    cdef Py_ssize_t n, j
    if b.count == b.capacity:  # never (see SHORTEST_RECORD)
        return False
    row = b.fields + b.count * FIELDS
    n = base64_into(v.text[0], v.size[0], b.buffer + b.used, b.limit)
    if n < 0:
        return False
    row[0], row[1] = b.used, b.used + n
    b.used += n
    for j in range(1, 3):  # the partition key and the sequence number, as they are
        if not utf8(v.text[j], v.size[j]):
            return False
        memcpy(b.buffer + b.used, v.text[j], v.size[j])
        row[2 * j], row[2 * j + 1] = b.used, b.used + v.size[j]
        b.used += v.size[j]
    row[6], row[7] = v.number[0], v.number[1]
    b.count += 1
    return True


cdef bint records(Cursor* c, Batch* out) noexcept:
    cdef Values values
    cdef Shape shape
    cdef const char* start
    shape.count = 0
    if not expect(c, c'['):
        return False
    if expect(c, c']'):
        return True
    while True:
        start = c.p
        if not (shape.count and shaped_record(c, &values, &shape)):
            c.p = start
            if not any_record(c, &values, NULL if shape.count else &shape):
                return False
        if not add(out, &values):
            return False
        if expect(c, c','):
            continue
        return expect(c, c']')


def parse(line, batch_type):
    """``(records, millisBehindLatest)`` of a ``processRecords`` line (str, bytes or any
    buffer, e.g. a view of a reader's buffer), the records as ``batch_type(buffer, rows)``
    (the core's RecordBatch); None for any line outside the subset."""
    cdef Py_buffer view
    cdef const char* text
    cdef Py_ssize_t size
    if PyBytes_Check(line):
        return message(PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line), batch_type)
    if isinstance(line, str):
        text = PyUnicode_AsUTF8AndSize(line, &size)
        return message(text, size, batch_type)
    if not PyObject_CheckBuffer(line):
        return None
    PyObject_GetBuffer(line, &view, PyBUF_SIMPLE)
    try:
        return message(<const char*>view.buf, view.len, batch_type)
    finally:
        PyBuffer_Release(&view)


cdef object message(const char* text, Py_ssize_t size, batch_type):
    cdef Cursor c
    cdef int seen = 0, k = -1
    cdef int64_t behind = 0
    cdef Batch batch
    cdef uint8_t[::1] room
    cdef int64_t[:, ::1] rows
    # a record's data, key and sequence number take no more room than their text in the line;
    # memory is only touched where written
    buffer = np.empty(size + 32, dtype=np.uint8)
    fields = np.empty((size // SHORTEST_RECORD + 1, FIELDS), dtype=np.int64)
    room, rows = buffer, fields
    batch.buffer, batch.limit, batch.used = <char*>&room[0], <char*>&room[0] + size + 32, 0
    batch.fields, batch.count, batch.capacity = &rows[0, 0], 0, rows.shape[0]
    c.p, c.end = text, text + size
    if not expect(&c, c'{'):
        return None
    while True:
        k = field(&c, MESSAGE_KEYS, k + 1)
        if k < 0 or seen & (1 << k):
            return None
        seen |= 1 << k
        if k == 0 and not text_is(&c, "processRecords", 14):
            return None
        if k == 1 and not records(&c, &batch):
            return None
        if k == 2 and not integer(&c, &behind):
            return None
        if expect(&c, c','):
            continue
        if expect(&c, c'}'):
            break
        return None
    skip_ws(&c)
    if c.p != c.end or seen != 0b111:
        return None
    return batch_type(buffer[: batch.used], fields[: batch.count]), behind
