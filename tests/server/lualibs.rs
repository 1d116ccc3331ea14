//! The libraries Redis gives scripts, byte for byte against redis-server:
//! cjson, cmsgpack (encodings by size and type, tables as arrays or maps,
//! nesting, streams with offsets, damaged input, the stack's bounds) and
//! struct (every format option, alignment, endianness, the limits and the
//! error texts).

use flashkv::Store;

use crate::backends;
use crate::differential::differential;

backends!(
    cjson_matches_redis,
    cmsgpack_matches_redis,
    struct_matches_redis
);

fn cjson_matches_redis<S: Store>() {
    differential::<S>(
        "scripting-cjson",
        r##"
        EVAL "return cjson.encode({1,2,3})" 0
        EVAL "return cjson.encode({a={1,'x',true,false}})" 0
        EVAL "return cjson.encode('a/b\"c\\n\\t')" 0
        EVAL "return cjson.encode(string.char(1, 127, 200))" 0
        EVAL "return cjson.encode({})" 0
        EVAL "return cjson.encode(cjson.null)" 0
        EVAL "return cjson.encode({1, nil, 3})" 0
        EVAL "return cjson.encode({1.5, 0.1, 1e20, 3, 1/3})" 0
        EVAL "return cjson.encode({-0.0, 0, {0*-1}})" 0
        EVAL "return cjson.encode({a=-0.0})" 0
        EVAL "return cjson.encode({[1]=1,[2]=2,[4]=4})" 0
        EVAL "return cjson.encode({[1.5]=1})" 0
        EVAL "local t = {} t[20] = 1 return cjson.encode(t)" 0
        EVAL "return cjson.encode(function() end)" 0
        EVAL "return cjson.encode(0/0)" 0
        EVAL "return cjson.encode({[true]=1})" 0
        EVAL "return cjson.encode()" 0
        EVAL "return cjson.decode('[1,2,{\"a\":true}]')[3].a" 0
        EVAL "return cjson.decode('{\"a\":[1,{\"b\":null}]}').a[2].b == cjson.null" 0
        EVAL "return cjson.decode('\"\\u00e9\\ud83d\\ude00\"')" 0
        EVAL "return cjson.decode('1e3')" 0
        EVAL "return cjson.decode(123)" 0
        EVAL "return cjson.decode(cjson.encode({k={1,{2}}})).k[2][1]" 0
        EVAL "return cjson.decode('x')" 0
        EVAL "return cjson.decode('[1,')" 0
        EVAL "return cjson.decode('[1 2]')" 0
        EVAL "return cjson.decode('{1:2}')" 0
        EVAL "return cjson.decode('{\"a\" 2}')" 0
        EVAL "return cjson.decode('[1] x')" 0
        EVAL "return cjson.decode('')" 0
        EVAL "return cjson.decode('\"abc')" 0
        EVAL "return cjson.decode('\"\\\\x\"')" 0
        EVAL "return cjson.decode('-')" 0
        EVAL "return cjson.decode()" 0
        EVAL "return cjson._VERSION" 0
        EVAL "return cjson.encode(1e15)" 0
        EVAL "return cjson.encode({[1e15]=1})" 0
        EVAL "return cjson.encode({[3e9]=1, [2]=2})" 0
        EVAL "return cjson.encode_max_depth()" 0
        EVAL "cjson.encode_max_depth(1) return {pcall(cjson.encode, {{1}})}" 0
        SCRIPT FLUSH
        EVAL "return cjson.encode_max_depth()" 0
        EVAL "cjson.decode_max_depth(1) return {pcall(cjson.decode, '[[1]]')}" 0
        SCRIPT FLUSH
        EVAL "return cjson.encode_max_depth(0)" 0
        EVAL "return {pcall(cjson.encode_max_depth, 0)}" 0
        EVAL "return {pcall(cjson.encode_max_depth, 'x')}" 0
        EVAL "return {pcall(cjson.encode_max_depth, 1, 2)}" 0
        EVAL "cjson.encode_number_precision(3) return cjson.encode({1.23456, 100000, [7]=1})" 0
        SCRIPT FLUSH
        EVAL "return cjson.encode_number_precision(15)" 0
        EVAL "return {cjson.encode_sparse_array()}" 0
        EVAL "return {cjson.encode_sparse_array(true, 3, 4)}" 0
        EVAL "return cjson.encode({[1]=1, [20]=2})" 0
        SCRIPT FLUSH
        EVAL "return cjson.encode_invalid_numbers('null')" 0
        EVAL "return cjson.encode({0/0, 1/0})" 0
        EVAL "cjson.encode_invalid_numbers(true) return cjson.encode({0/0, 1/0, -1/0})" 0
        EVAL "return {pcall(cjson.encode_invalid_numbers, 'bad')}" 0
        SCRIPT FLUSH
        EVAL "return {cjson.encode_keep_buffer(false), cjson.decode_invalid_numbers()}" 0
        EVAL "return {pcall(cjson.encode, function() end)}" 0
        EVAL "return bit.band({})" 0
        EVAL "return {pcall(bit.band, {})}" 0
        EVAL "return {pcall(bit.bor)}" 0
        EVAL "return {bit.tobit('0x10'), bit.tobit(2^40 + 3.5), bit.tohex(-1, -4), bit.band('7', 3)}" 0
        "##,
    );
}

/// Scripts see each packed string as a bulk reply, compared byte for byte;
/// unpacked values come back in a table (numbers as `tostring` text where
/// a fraction matters).
fn cmsgpack_matches_redis<S: Store>() {
    differential::<S>(
        "scripting-cmsgpack",
        r##"
        # Integers at every size boundary, both signs
        EVAL "return cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 2^53)" 0
        EVAL "return cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31-1, -2^53)" 0
        # Other numbers: float when exact, else double; 2^63 is not an int64
        EVAL "return cmsgpack.pack(1.5, 0.1, 1/0, -1/0, 2^63, -2^63, 1e300, -0.0)" 0
        EVAL "return #cmsgpack.pack(0/0)" 0
        # Strings by length: fix, 8, 16 and 32 bits
        EVAL "return cmsgpack.pack('', 'abc', string.rep('x', 31), string.rep('y', 32))" 0
        EVAL "return cmsgpack.pack(string.rep('z', 255), string.rep('z', 256))" 0
        EVAL "return cmsgpack.pack(string.rep('w', 65535)):sub(1, 4)" 0
        EVAL "return cmsgpack.pack(string.rep('w', 65536)):sub(1, 6)" 0
        # Booleans, nil, what has no encoding
        EVAL "return cmsgpack.pack(true, false, nil, function() end)" 0
        # Tables: arrays when the keys are exactly 1..n, else maps
        EVAL "return cmsgpack.pack({}, {1, 2, 3}, {a = 1}, {1, nil, 3})" 0
        EVAL "return cmsgpack.pack({[1] = 'a', [2] = 'b', [4] = 'd'}, {[1.5] = 1}, {[0] = 1}, {[-1] = 1})" 0
        EVAL "local t = {} for i = 1, 20 do t[i] = i end return cmsgpack.pack(t)" 0
        EVAL "local t = {} for i = 1, 70000 do t[i] = i % 3 end return cmsgpack.pack(t):sub(1, 8)" 0
        EVAL "local t = {} for i = 1, 20 do t['k' .. i] = i end return #cmsgpack.pack(t)" 0
        EVAL "return cmsgpack.pack({x = {y = {z = {1, 2}}}, list = {'a', {b = true}}})" 0
        # Sixteen levels deep the rest is nil, so a table holding itself packs
        EVAL "local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return cmsgpack.pack(t)" 0
        EVAL "local t = {1} t[2] = t return cmsgpack.pack(t)" 0
        EVAL "return cmsgpack.pack()" 0
        # Round trips
        EVAL "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, {4}}, -5, 70000))}" 0
        EVAL "local t = cmsgpack.unpack(cmsgpack.pack({a = 1, b = {c = 'd'}})) return {t.a, t.b.c}" 0
        EVAL "return tostring(cmsgpack.unpack(cmsgpack.pack(0.1)))" 0
        EVAL "return tostring(cmsgpack.unpack(cmsgpack.pack(1.5)))" 0
        EVAL "return tostring(cmsgpack.unpack(cmsgpack.pack(-2^53)))" 0
        EVAL "return cmsgpack.unpack(cmsgpack.pack(true)) == true" 0
        EVAL "return select('#', cmsgpack.unpack(''))" 0
        EVAL "return cmsgpack.unpack(5)" 0
        # What other encoders write: int forms with room to spare, bin, ext
        EVAL "return cmsgpack.unpack('\204\5')" 0
        EVAL "return {cmsgpack.unpack('\208\255\209\255\254\210\255\255\255\253')}" 0
        EVAL "return tostring(cmsgpack.unpack('\207\255\255\255\255\255\255\255\255'))" 0
        EVAL "return tostring(cmsgpack.unpack('\211\128\0\0\0\0\0\0\0'))" 0
        EVAL "return cmsgpack.unpack('\196\1a')" 0
        EVAL "return cmsgpack.unpack('\193')" 0
        EVAL "return cmsgpack.unpack('\147\1\2')" 0
        EVAL "return cmsgpack.unpack('\219\0\0\0\9abc')" 0
        EVAL "return cmsgpack.unpack('\129\192\1')" 0
        EVAL "return cmsgpack.unpack('\130\1')" 0
        # Streams: unpack_one and unpack_limit return the next offset first
        EVAL "local s = cmsgpack.pack(1, 2, 3) return {cmsgpack.unpack_one(s)}" 0
        EVAL "local s = cmsgpack.pack(1, 2, 3) return {cmsgpack.unpack_one(s, 2)}" 0
        EVAL "local s = cmsgpack.pack(1, 2, 3) return {cmsgpack.unpack_limit(s, 2)}" 0
        EVAL "local s = cmsgpack.pack(1, 2, 3) return {cmsgpack.unpack_limit(s, 5, 1)}" 0
        EVAL "local s = cmsgpack.pack(1, 2, 3) return {cmsgpack.unpack_limit(s, 0, 3)}" 0
        EVAL "return cmsgpack.unpack_one(cmsgpack.pack(1), 5)" 0
        EVAL "return cmsgpack.unpack_one(cmsgpack.pack(1), -1)" 0
        EVAL "return cmsgpack.unpack_limit(cmsgpack.pack(1), -2)" 0
        EVAL "return cmsgpack.unpack_limit(cmsgpack.pack(1))" 0
        EVAL "return cmsgpack.unpack()" 0
        # The Lua stack bounds one call's values and the nesting depth
        EVAL "return select('#', cmsgpack.unpack(string.rep('\1', 7990)))" 0
        EVAL "return select('#', cmsgpack.unpack(string.rep('\1', 8000)))" 0
        EVAL "return select('#', cmsgpack.unpack(string.rep('\1', 100000)))" 0
        EVAL "return type(cmsgpack.unpack(string.rep('\145', 3990) .. '\1'))" 0
        EVAL "return type(cmsgpack.unpack(string.rep('\145', 4000) .. '\1'))" 0
        EVAL "return type(cmsgpack.unpack(string.rep('\129\1', 4000) .. '\1'))" 0
        EVAL "return type(cmsgpack.unpack(string.rep('\129', 3000) .. '\1'))" 0
        EVAL "return type(cmsgpack.unpack(string.rep('\145', 1000000)))" 0
        EVAL "return cmsgpack._VERSION" 0
                EVAL "local t={} for i=1,20000 do t['k'..i]=i end local d=cmsgpack.unpack(cmsgpack.pack(t)) return {d.k1, d.k20000}" 0
        EVAL "local t={} for i=1,20000 do t[i]=i end return #cmsgpack.unpack(cmsgpack.pack(t))" 0
        EVAL "local t={} for i=1,20000 do t[i]=i end return t" 0
        "##,
    );
}

/// Packed strings as bulk replies, unpacked numbers as `tostring` text.
fn struct_matches_redis<S: Store>() {
    differential::<S>(
        "scripting-struct",
        r##"
        # Integers: every width, both byte orders, wrapping as a C long
        EVAL "return struct.pack('>I2', 258) .. struct.pack('<I2', 258)" 0
        EVAL "return struct.pack('bBhHlLT', -1, 255, -2, 65534, -3, 7, 9)" 0
        EVAL "return struct.pack('>i3<i3', -2, -2)" 0
        EVAL "return struct.pack('I16', 1) .. struct.pack('>i16', -1)" 0
        EVAL "return struct.pack('i0', 5) .. 'end'" 0
        EVAL "return struct.pack('B', 300) .. struct.pack('>I4', 2^32 + 5)" 0
        EVAL "return struct.pack('>L', 2^63) .. struct.pack('>L', 2^64) .. struct.pack('>L', 0/0)" 0
        EVAL "return struct.pack('>l', -2^63) .. struct.pack('>l', -2^64) .. struct.pack('>i', 1.9) .. struct.pack('>i', -1.9)" 0
        EVAL "return struct.pack('i', '12') .. struct.pack('i', ' 0x10 ')" 0
        # Floats, padding, chars and strings
        EVAL "return struct.pack('f>f<d>d', 1.5, -0.1, 0.1, 1/0)" 0
        EVAL "return struct.pack('xbxx', 7)" 0
        EVAL "return struct.pack('c5', 'hello world') .. struct.pack('c0', 'abc') .. struct.pack('c', 'xyz')" 0
        EVAL "return struct.pack('s', 'abc') .. struct.pack('s', 12.5)" 0
        # Alignment
        EVAL "return struct.pack('!4 b i b d', 1, 2, 3, 4)" 0
        EVAL "return struct.pack('! b d b h', 1, 2, 3, 4)" 0
        EVAL "return struct.pack('!2 b i8 b c3', 1, 2, 3, 'abc')" 0
        EVAL "return struct.pack('!16 b i3', 1, 2)" 0
        # Errors
        EVAL "return struct.pack('!3 b', 1)" 0
        EVAL "return struct.pack('i33', 1)" 0
        EVAL "return struct.pack('i99999999999', 1)" 0
        EVAL "return struct.pack('c99999999999', 'a')" 0
        EVAL "return struct.pack('z', 1)" 0
        EVAL "return struct.pack('b%', 1)" 0
        EVAL "return struct.pack('c10', 'abc')" 0
        EVAL "return struct.pack('b c10', 1, 'abc')" 0
        EVAL "return struct.pack('i')" 0
        EVAL "return struct.pack('i', 'x')" 0
        EVAL "return struct.pack('i', {})" 0
        EVAL "return struct.pack('s', nil)" 0
        EVAL "return struct.pack()" 0
        EVAL "return struct.pack({})" 0
        # Unpack: values, then the next position
        EVAL "local a, b = struct.unpack('>I2', string.char(1, 2)) return {a, b}" 0
        EVAL "return {struct.unpack('<i4>i4', struct.pack('<i4>i4', -2, -3))}" 0
        EVAL "return {struct.unpack('bBhHlLT', struct.pack('bBhHlLT', -1, 255, -2, 65534, -3, 7, 9))}" 0
        EVAL "return {struct.unpack('i3I3', string.char(255, 255, 255, 255, 255, 255))}" 0
        EVAL "return {struct.unpack('>i16', string.rep(string.char(255), 16))}" 0
        EVAL "return tostring(struct.unpack('>I16', string.rep(string.char(255), 16)))" 0
        EVAL "return tostring(struct.unpack('L', string.rep(string.char(255), 8)))" 0
        EVAL "return {tostring(struct.unpack('f', struct.pack('f', 0.1))), tostring(struct.unpack('>d', struct.pack('>d', 0.1)))}" 0
        EVAL "return {struct.unpack('b c0 b', struct.pack('b c0 b', 3, 'abc', 9))}" 0
        EVAL "return {struct.unpack('c2 c0', '12345678901234')}" 0
        EVAL "return {struct.unpack('s s', struct.pack('s s', 'ab', 'cd'))}" 0
        EVAL "return {struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))}" 0
        EVAL "return {struct.unpack('x b', 'ab')}" 0
        EVAL "return {struct.unpack('b', 'abc', 3)}" 0
        EVAL "return {struct.unpack('b', 'abc', 2.9)}" 0
        EVAL "return struct.unpack('c0', 'abc')" 0
        EVAL "return struct.unpack('b c0', string.char(9) .. 'abc')" 0
        EVAL "return struct.unpack('s', 'abc')" 0
        EVAL "return struct.unpack('i', 'abc')" 0
        EVAL "return struct.unpack('b', 'abc', 0)" 0
        EVAL "return struct.unpack('b', 'abc', -1)" 0
        EVAL "return struct.unpack('b', 'abc', 4)" 0
        EVAL "return struct.unpack('z', 'abc')" 0
        EVAL "return struct.unpack('b')" 0
        EVAL "return select('#', struct.unpack(string.rep('b', 7990), string.rep('a', 7990)))" 0
        EVAL "return select('#', struct.unpack(string.rep('b', 8000), string.rep('a', 8000)))" 0
        # Size
        EVAL "return {struct.size('i4 b d'), struct.size('!8 b d'), struct.size('c3 x'), struct.size('z'), struct.size('')}" 0
        EVAL "return struct.size('s')" 0
        EVAL "return struct.size('c0')" 0
        EVAL "return struct.size('%')" 0
        EVAL "return struct.size('!5')" 0
        EVAL "return struct.size()" 0
        "##,
    );
}
