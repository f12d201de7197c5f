//! A thin layer over the raw JNI function table: the calls value
//! conversion makes many times (instance checks, cached method IDs, arrays,
//! strings), each followed by an exception check, and the cache of classes
//! and method IDs (looked up once, from a JVM-called native method, so the
//! application's class loader is the one searched).

use std::ffi::{c_void, CStr};
use std::ptr;
use std::sync::OnceLock;

use jni::sys::{
    self, jboolean, jbyte, jclass, jdouble, jfieldID, jint, jlong, jmethodID, jobject, jsize,
    jstring, jvalue,
};

// Big buffers come from srpy_proto's pool of recycled ones (fresh ones with
// huge-page advice): the copy out of the Java heap lands in warm memory.
use srpy_proto::frame::big_buffer;

use crate::error::JvmError;

/// A JNI environment of the current thread (valid for one native call).
#[derive(Clone, Copy)]
pub struct J {
    env: *mut sys::JNIEnv,
}

/// A global reference to a class, or a method ID: valid on every thread.
#[derive(Clone, Copy)]
pub struct G(pub jobject);
unsafe impl Send for G {}
unsafe impl Sync for G {}

#[derive(Clone, Copy)]
pub struct M(pub jmethodID);
unsafe impl Send for M {}
unsafe impl Sync for M {}

#[allow(dead_code)]
#[derive(Clone, Copy)]
pub struct F(pub jfieldID);
unsafe impl Send for F {}
unsafe impl Sync for F {}

macro_rules! jni {
    ($j:expr, $f:ident $(, $a:expr)*) => {{
        let env = $j.env;
        // SAFETY: `env` is the valid JNIEnv of this thread; every function
        // used exists since JNI 1.2, which every supported JVM provides.
        unsafe { ((**env).v1_2.$f)(env $(, $a)*) }
    }};
}

pub fn jv_obj(o: jobject) -> jvalue {
    jvalue { l: o }
}
pub fn jv_long(v: jlong) -> jvalue {
    jvalue { j: v }
}
pub fn jv_int(v: jint) -> jvalue {
    jvalue { i: v }
}
pub fn jv_double(v: jdouble) -> jvalue {
    jvalue { d: v }
}
pub fn jv_bool(v: bool) -> jvalue {
    jvalue { z: v }
}

impl J {
    /// # Safety
    /// `env` must be the JNIEnv of the current thread.
    pub unsafe fn new(env: *mut sys::JNIEnv) -> J {
        J { env }
    }

    /// `Err(JvmError::Java)` when a Java exception is pending.
    #[inline]
    pub fn check(&self) -> Result<(), JvmError> {
        if jni!(self, ExceptionCheck) {
            Err(JvmError::Java)
        } else {
            Ok(())
        }
    }

    pub fn pending(&self) -> bool {
        jni!(self, ExceptionCheck)
    }

    pub fn clear_exception(&self) {
        jni!(self, ExceptionClear)
    }

    /// The pending exception (cleared), or null.
    pub fn take_exception(&self) -> jobject {
        let t = jni!(self, ExceptionOccurred);
        if !t.is_null() {
            jni!(self, ExceptionClear);
        }
        t
    }

    pub fn class(&self, name: &CStr) -> Result<G, JvmError> {
        let local = jni!(self, FindClass, name.as_ptr());
        self.check()?;
        if local.is_null() {
            return Err(JvmError::Internal(format!("class {name:?} not found")));
        }
        let g = jni!(self, NewGlobalRef, local);
        self.del(local);
        Ok(G(g))
    }

    pub fn method(&self, cls: G, name: &CStr, sig: &CStr) -> Result<M, JvmError> {
        let m = jni!(self, GetMethodID, cls.0, name.as_ptr(), sig.as_ptr());
        self.check()?;
        Ok(M(m))
    }

    pub fn static_method(&self, cls: G, name: &CStr, sig: &CStr) -> Result<M, JvmError> {
        let m = jni!(self, GetStaticMethodID, cls.0, name.as_ptr(), sig.as_ptr());
        self.check()?;
        Ok(M(m))
    }

    pub fn static_object_field(&self, cls: G, name: &CStr, sig: &CStr) -> Result<G, JvmError> {
        let f = jni!(self, GetStaticFieldID, cls.0, name.as_ptr(), sig.as_ptr());
        self.check()?;
        let local = jni!(self, GetStaticObjectField, cls.0, f);
        self.check()?;
        let g = jni!(self, NewGlobalRef, local);
        self.del(local);
        Ok(G(g))
    }

    pub fn global(&self, o: jobject) -> G {
        G(jni!(self, NewGlobalRef, o))
    }

    /// A new local reference to a global one (what a native method returns).
    pub fn local(&self, g: G) -> jobject {
        jni!(self, NewLocalRef, g.0)
    }

    #[inline]
    pub fn del(&self, o: jobject) {
        if !o.is_null() {
            jni!(self, DeleteLocalRef, o)
        }
    }

    #[inline]
    pub fn is(&self, o: jobject, cls: G) -> bool {
        jni!(self, IsInstanceOf, o, cls.0 as jclass)
    }

    #[inline]
    pub fn call_obj(&self, o: jobject, m: M, args: &[jvalue]) -> Result<jobject, JvmError> {
        let r = jni!(self, CallObjectMethodA, o, m.0, args.as_ptr());
        self.check().map(|_| r).inspect_err(|_| self.del(r))
    }

    #[inline]
    pub fn call_long(&self, o: jobject, m: M) -> Result<jlong, JvmError> {
        let r = jni!(self, CallLongMethodA, o, m.0, ptr::null());
        self.check().map(|_| r)
    }

    #[inline]
    pub fn call_int(&self, o: jobject, m: M) -> Result<jint, JvmError> {
        let r = jni!(self, CallIntMethodA, o, m.0, ptr::null());
        self.check().map(|_| r)
    }

    #[inline]
    pub fn call_double(&self, o: jobject, m: M) -> Result<jdouble, JvmError> {
        let r = jni!(self, CallDoubleMethodA, o, m.0, ptr::null());
        self.check().map(|_| r)
    }

    #[inline]
    pub fn call_bool(&self, o: jobject, m: M, args: &[jvalue]) -> Result<bool, JvmError> {
        let r: jboolean = jni!(self, CallBooleanMethodA, o, m.0, args.as_ptr());
        self.check().map(|_| r)
    }

    #[inline]
    pub fn call_void(&self, o: jobject, m: M, args: &[jvalue]) -> Result<(), JvmError> {
        jni!(self, CallVoidMethodA, o, m.0, args.as_ptr());
        self.check()
    }

    #[inline]
    pub fn call_static_obj(&self, cls: G, m: M, args: &[jvalue]) -> Result<jobject, JvmError> {
        let r = jni!(
            self,
            CallStaticObjectMethodA,
            cls.0 as jclass,
            m.0,
            args.as_ptr()
        );
        self.check().map(|_| r).inspect_err(|_| self.del(r))
    }

    #[inline]
    pub fn new_obj(&self, cls: G, ctor: M, args: &[jvalue]) -> Result<jobject, JvmError> {
        let r = jni!(self, NewObjectA, cls.0 as jclass, ctor.0, args.as_ptr());
        self.check()?;
        if r.is_null() {
            return Err(JvmError::Internal("NewObject returned null".into()));
        }
        Ok(r)
    }

    pub fn throw(&self, t: jobject) {
        jni!(self, Throw, t);
    }

    pub fn throw_new(&self, cls: G, msg: &str) {
        let c = cstring(msg);
        jni!(self, ThrowNew, cls.0 as jclass, c.as_ptr());
    }

    // ---------------------------------------------------------------- strings

    /// A Java `String` as Rust text; an unpaired surrogate is an error.
    pub fn string(&self, s: jstring) -> Result<String, JvmError> {
        let len = jni!(self, GetStringLength, s);
        let utf_len = jni!(self, GetStringUTFLength, s);
        self.check()?;
        if len == utf_len {
            // Every char is one byte of modified UTF-8: plain ASCII.
            let mut buf = vec![0u8; len as usize + 1];
            jni!(self, GetStringUTFRegion, s, 0, len, buf.as_mut_ptr().cast());
            self.check()?;
            buf.truncate(len as usize);
            return String::from_utf8(buf).map_err(|e| JvmError::Internal(e.to_string()));
        }
        let mut buf = vec![0u16; len as usize];
        jni!(self, GetStringRegion, s, 0, len, buf.as_mut_ptr());
        self.check()?;
        String::from_utf16(&buf).map_err(|_| {
            JvmError::Arg(
                "a String holds an unpaired surrogate, which Python text cannot carry \
                 over the wire (UTF-8)"
                    .into(),
            )
        })
    }

    pub fn new_string(&self, s: &str) -> Result<jstring, JvmError> {
        let units: Vec<u16> = s.encode_utf16().collect();
        let len = jsize_of(units.len())?;
        let r = jni!(self, NewString, units.as_ptr(), len);
        self.check()?;
        Ok(r)
    }

    // ---------------------------------------------------------------- arrays

    pub fn array_len(&self, a: jobject) -> usize {
        jni!(self, GetArrayLength, a) as usize
    }

    pub fn array_get(&self, a: jobject, i: usize) -> Result<jobject, JvmError> {
        let r = jni!(self, GetObjectArrayElement, a, i as jsize);
        self.check().map(|_| r)
    }

    pub fn new_object_array(&self, len: usize, cls: G) -> Result<jobject, JvmError> {
        let r = jni!(
            self,
            NewObjectArray,
            jsize_of(len)?,
            cls.0 as jclass,
            ptr::null_mut()
        );
        self.check().map(|_| r)
    }

    pub fn array_set(&self, a: jobject, i: usize, v: jobject) -> Result<(), JvmError> {
        jni!(self, SetObjectArrayElement, a, i as jsize, v);
        self.check()
    }

    /// The raw bytes of a primitive array (`elem` bytes per element), copied.
    pub fn primitive_bytes(&self, a: jobject, elem: usize) -> Result<Vec<u8>, JvmError> {
        let n = self.array_len(a) * elem;
        let mut out = big_buffer(n);
        if n > 0 {
            let p = jni!(self, GetPrimitiveArrayCritical, a, ptr::null_mut());
            if p.is_null() {
                self.check()?;
                return Err(JvmError::Internal(
                    "GetPrimitiveArrayCritical failed".into(),
                ));
            }
            // SAFETY: the critical region holds n bytes; out has capacity n.
            unsafe {
                ptr::copy_nonoverlapping(p as *const u8, out.as_mut_ptr(), n);
                out.set_len(n);
            }
            jni!(self, ReleasePrimitiveArrayCritical, a, p, sys::JNI_ABORT);
        }
        Ok(out)
    }

    /// Copies raw bytes into a primitive array of the right length.
    pub fn fill_primitive(&self, a: jobject, bytes: &[u8]) -> Result<(), JvmError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let p = jni!(self, GetPrimitiveArrayCritical, a, ptr::null_mut());
        if p.is_null() {
            self.check()?;
            return Err(JvmError::Internal(
                "GetPrimitiveArrayCritical failed".into(),
            ));
        }
        // SAFETY: the array was made with exactly bytes.len() bytes.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), p as *mut u8, bytes.len()) };
        jni!(self, ReleasePrimitiveArrayCritical, a, p, 0);
        Ok(())
    }

    pub fn byte_array(&self, bytes: &[u8]) -> Result<jobject, JvmError> {
        let a = jni!(self, NewByteArray, jsize_of(bytes.len())?);
        self.check()?;
        if !bytes.is_empty() {
            jni!(
                self,
                SetByteArrayRegion,
                a,
                0,
                bytes.len() as jsize,
                bytes.as_ptr() as *const jbyte
            );
            self.check()?;
        }
        Ok(a)
    }

    pub fn bytes_of(&self, a: jobject) -> Result<Vec<u8>, JvmError> {
        let n = self.array_len(a);
        let mut out = big_buffer(n);
        if n > 0 {
            jni!(
                self,
                GetByteArrayRegion,
                a,
                0,
                n as jsize,
                out.as_mut_ptr() as *mut jbyte
            );
            self.check()?;
            // SAFETY: GetByteArrayRegion wrote n bytes.
            unsafe { out.set_len(n) };
        }
        Ok(out)
    }

    /// A new primitive array of `len` elements of the kind named.
    pub fn new_primitive(&self, kind: Prim, len: usize) -> Result<jobject, JvmError> {
        let n = jsize_of(len)?;
        let r = match kind {
            Prim::Bool => jni!(self, NewBooleanArray, n),
            Prim::Byte => jni!(self, NewByteArray, n),
            Prim::Short => jni!(self, NewShortArray, n),
            Prim::Int => jni!(self, NewIntArray, n),
            Prim::Long => jni!(self, NewLongArray, n),
            Prim::Float => jni!(self, NewFloatArray, n),
            Prim::Double => jni!(self, NewDoubleArray, n),
        };
        self.check().map(|_| r)
    }

    pub fn long_array(&self, v: &[jlong]) -> Result<jobject, JvmError> {
        let a = jni!(self, NewLongArray, jsize_of(v.len())?);
        self.check()?;
        if !v.is_empty() {
            jni!(self, SetLongArrayRegion, a, 0, v.len() as jsize, v.as_ptr());
            self.check()?;
        }
        Ok(a)
    }

    pub fn longs_of(&self, a: jobject) -> Result<Vec<jlong>, JvmError> {
        let n = self.array_len(a);
        let mut out = vec![0 as jlong; n];
        if n > 0 {
            jni!(self, GetLongArrayRegion, a, 0, n as jsize, out.as_mut_ptr());
            self.check()?;
        }
        Ok(out)
    }

    pub fn int_array(&self, v: &[jint]) -> Result<jobject, JvmError> {
        let a = jni!(self, NewIntArray, jsize_of(v.len())?);
        self.check()?;
        if !v.is_empty() {
            jni!(self, SetIntArrayRegion, a, 0, v.len() as jsize, v.as_ptr());
            self.check()?;
        }
        Ok(a)
    }

    pub fn double_array(&self, v: &[jdouble]) -> Result<jobject, JvmError> {
        let a = jni!(self, NewDoubleArray, jsize_of(v.len())?);
        self.check()?;
        jni!(
            self,
            SetDoubleArrayRegion,
            a,
            0,
            v.len() as jsize,
            v.as_ptr()
        );
        self.check()?;
        Ok(a)
    }
}

/// Element kinds of Java primitive arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prim {
    Bool,
    Byte,
    Short,
    Int,
    Long,
    Float,
    Double,
}

fn jsize_of(n: usize) -> Result<jsize, JvmError> {
    jsize::try_from(n).map_err(|_| {
        JvmError::NotTransferable(format!(
            "{n} elements do not fit a Java array (at most {})",
            jsize::MAX
        ))
    })
}

fn cstring(s: &str) -> std::ffi::CString {
    // Modified UTF-8 is what ThrowNew reads; NUL cannot occur in a C string.
    // Characters outside the BMP are rare in messages: replace them.
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c == '\0' || (c as u32) > 0xFFFF {
                '?'
            } else {
                c
            }
        })
        .collect();
    std::ffi::CString::new(cleaned).unwrap_or_default()
}

/// Classes and method IDs, looked up once by `Native.init()`.
pub struct Cache {
    pub object: G,
    pub get_class: M,
    pub class_get_name: M,
    pub string: G,
    pub boolean: G,
    pub boolean_value: M,
    pub boolean_true: G,
    pub boolean_false: G,
    pub long: G,
    pub long_value_of: M,
    pub integer: G,
    pub short: G,
    pub byte: G,
    pub number_long_value: M,
    pub number_double_value: M,
    pub double: G,
    pub double_value_of: M,
    pub float: G,
    pub character: G,
    pub char_value: M,
    pub big_integer: G,
    pub big_integer_ctor: M,
    pub big_integer_to_bytes: M,
    pub big_decimal: G,
    pub big_decimal_ctor: M,
    pub big_decimal_unscaled: M,
    pub big_decimal_scale: M,
    pub byte_array: G,
    pub object_array: G,
    pub bool_array: G,
    pub short_array: G,
    pub int_array: G,
    pub long_array: G,
    pub float_array: G,
    pub double_array: G,
    pub collection: G,
    pub collection_to_array: M,
    pub set: G,
    pub map: G,
    pub map_entry_set: M,
    pub entry_key: M,
    pub entry_value: M,
    pub array_list: G,
    pub array_list_ctor: M,
    pub list_add: M,
    pub linked_hash_map: G,
    pub linked_hash_map_ctor: M,
    pub map_put: M,
    pub linked_hash_set: G,
    pub linked_hash_set_ctor: M,
    pub set_add: M,
    pub local_date_time: G,
    pub offset_date_time: G,
    pub zoned_date_time: G,
    pub local_date: G,
    pub bi_consumer_accept: M,
    pub stdout: G,
    pub stderr: G,
    // org.srpy
    pub tuple: G,
    pub complex: G,
    pub complex_ctor: M,
    pub complex_re: M,
    pub complex_im: M,
    pub ndarray: G,
    pub nd_dtype: M,
    pub nd_shape: M,
    pub nd_fortran: M,
    pub nd_data: M,
    pub internal: G,
    pub internal_parse_datetime: M,
    pub internal_parse_date: M,
    pub internal_iso_datetime: M,
    pub internal_iso_date: M,
    pub internal_ndarray: M,
    pub internal_tuple: M,
    // exceptions
    pub ex_srpy: G,
    pub ex_remote: G,
    pub ex_remote_ctor: M,
    pub ex_engine_died: G,
    pub ex_timeout: G,
    pub ex_interrupted: G,
    pub ex_auth: G,
    pub ex_protocol: G,
    pub ex_not_transferable: G,
    pub ex_server_not_found: G,
    pub ex_unsupported: G,
    pub ex_no_such_engine: G,
    pub ex_illegal_argument: G,
    pub ex_illegal_state: G,
}

static CACHE: OnceLock<Cache> = OnceLock::new();

/// The cache; `Native.init()` fills it before any other native runs.
pub fn cache() -> Result<&'static Cache, JvmError> {
    CACHE
        .get()
        .ok_or_else(|| JvmError::Internal("the SRPy native library is not initialised".into()))
}

pub fn cache_opt() -> Option<&'static Cache> {
    CACHE.get()
}

macro_rules! c {
    ($s:literal) => {
        // SAFETY: the literal has exactly one NUL, at its end.
        unsafe { CStr::from_bytes_with_nul_unchecked(concat!($s, "\0").as_bytes()) }
    };
}

pub fn init(j: &J) -> Result<(), JvmError> {
    if CACHE.get().is_some() {
        return Ok(());
    }
    let object = j.class(c!("java/lang/Object"))?;
    let class = j.class(c!("java/lang/Class"))?;
    let string = j.class(c!("java/lang/String"))?;
    let boolean = j.class(c!("java/lang/Boolean"))?;
    let number = j.class(c!("java/lang/Number"))?;
    let long = j.class(c!("java/lang/Long"))?;
    let double = j.class(c!("java/lang/Double"))?;
    let character = j.class(c!("java/lang/Character"))?;
    let big_integer = j.class(c!("java/math/BigInteger"))?;
    let big_decimal = j.class(c!("java/math/BigDecimal"))?;
    let collection = j.class(c!("java/util/Collection"))?;
    let set = j.class(c!("java/util/Set"))?;
    let map = j.class(c!("java/util/Map"))?;
    let map_entry = j.class(c!("java/util/Map$Entry"))?;
    let array_list = j.class(c!("java/util/ArrayList"))?;
    let linked_hash_map = j.class(c!("java/util/LinkedHashMap"))?;
    let linked_hash_set = j.class(c!("java/util/LinkedHashSet"))?;
    let bi_consumer = j.class(c!("java/util/function/BiConsumer"))?;
    let complex = j.class(c!("org/srpy/Complex"))?;
    let ndarray = j.class(c!("org/srpy/NDArray"))?;
    let internal = j.class(c!("org/srpy/Internal"))?;
    let ex_remote = j.class(c!("org/srpy/RemoteException"))?;
    let stdout = j.new_string("stdout")?;
    let stderr = j.new_string("stderr")?;
    let cache = Cache {
        object,
        get_class: j.method(object, c!("getClass"), c!("()Ljava/lang/Class;"))?,
        class_get_name: j.method(class, c!("getName"), c!("()Ljava/lang/String;"))?,
        string,
        boolean,
        boolean_value: j.method(boolean, c!("booleanValue"), c!("()Z"))?,
        boolean_true: j.static_object_field(boolean, c!("TRUE"), c!("Ljava/lang/Boolean;"))?,
        boolean_false: j.static_object_field(boolean, c!("FALSE"), c!("Ljava/lang/Boolean;"))?,
        long,
        long_value_of: j.static_method(long, c!("valueOf"), c!("(J)Ljava/lang/Long;"))?,
        integer: j.class(c!("java/lang/Integer"))?,
        short: j.class(c!("java/lang/Short"))?,
        byte: j.class(c!("java/lang/Byte"))?,
        number_long_value: j.method(number, c!("longValue"), c!("()J"))?,
        number_double_value: j.method(number, c!("doubleValue"), c!("()D"))?,
        double,
        double_value_of: j.static_method(double, c!("valueOf"), c!("(D)Ljava/lang/Double;"))?,
        float: j.class(c!("java/lang/Float"))?,
        character,
        char_value: j.method(character, c!("toString"), c!("()Ljava/lang/String;"))?,
        big_integer,
        big_integer_ctor: j.method(big_integer, c!("<init>"), c!("([B)V"))?,
        big_integer_to_bytes: j.method(big_integer, c!("toByteArray"), c!("()[B"))?,
        big_decimal,
        big_decimal_ctor: j.method(big_decimal, c!("<init>"), c!("(Ljava/math/BigInteger;I)V"))?,
        big_decimal_unscaled: j.method(
            big_decimal,
            c!("unscaledValue"),
            c!("()Ljava/math/BigInteger;"),
        )?,
        big_decimal_scale: j.method(big_decimal, c!("scale"), c!("()I"))?,
        byte_array: j.class(c!("[B"))?,
        object_array: j.class(c!("[Ljava/lang/Object;"))?,
        bool_array: j.class(c!("[Z"))?,
        short_array: j.class(c!("[S"))?,
        int_array: j.class(c!("[I"))?,
        long_array: j.class(c!("[J"))?,
        float_array: j.class(c!("[F"))?,
        double_array: j.class(c!("[D"))?,
        collection,
        collection_to_array: j.method(collection, c!("toArray"), c!("()[Ljava/lang/Object;"))?,
        set,
        map,
        map_entry_set: j.method(map, c!("entrySet"), c!("()Ljava/util/Set;"))?,
        entry_key: j.method(map_entry, c!("getKey"), c!("()Ljava/lang/Object;"))?,
        entry_value: j.method(map_entry, c!("getValue"), c!("()Ljava/lang/Object;"))?,
        array_list,
        array_list_ctor: j.method(array_list, c!("<init>"), c!("(I)V"))?,
        list_add: j.method(array_list, c!("add"), c!("(Ljava/lang/Object;)Z"))?,
        linked_hash_map,
        linked_hash_map_ctor: j.method(linked_hash_map, c!("<init>"), c!("(I)V"))?,
        map_put: j.method(
            linked_hash_map,
            c!("put"),
            c!("(Ljava/lang/Object;Ljava/lang/Object;)Ljava/lang/Object;"),
        )?,
        linked_hash_set,
        linked_hash_set_ctor: j.method(linked_hash_set, c!("<init>"), c!("(I)V"))?,
        set_add: j.method(linked_hash_set, c!("add"), c!("(Ljava/lang/Object;)Z"))?,
        local_date_time: j.class(c!("java/time/LocalDateTime"))?,
        offset_date_time: j.class(c!("java/time/OffsetDateTime"))?,
        zoned_date_time: j.class(c!("java/time/ZonedDateTime"))?,
        local_date: j.class(c!("java/time/LocalDate"))?,
        bi_consumer_accept: j.method(
            bi_consumer,
            c!("accept"),
            c!("(Ljava/lang/Object;Ljava/lang/Object;)V"),
        )?,
        stdout: j.global(stdout),
        stderr: j.global(stderr),
        tuple: j.class(c!("org/srpy/Tuple"))?,
        complex,
        complex_ctor: j.method(complex, c!("<init>"), c!("(DD)V"))?,
        complex_re: j.method(complex, c!("getReal"), c!("()D"))?,
        complex_im: j.method(complex, c!("getImag"), c!("()D"))?,
        ndarray,
        nd_dtype: j.method(ndarray, c!("getDtype"), c!("()Ljava/lang/String;"))?,
        nd_shape: j.method(ndarray, c!("getShape"), c!("()[J"))?,
        nd_fortran: j.method(ndarray, c!("isFortranOrder"), c!("()Z"))?,
        nd_data: j.method(ndarray, c!("getData"), c!("()Ljava/lang/Object;"))?,
        internal,
        internal_parse_datetime: j.static_method(
            internal,
            c!("parseDateTime"),
            c!("(Ljava/lang/String;)Ljava/lang/Object;"),
        )?,
        internal_parse_date: j.static_method(
            internal,
            c!("parseDate"),
            c!("(Ljava/lang/String;)Ljava/time/LocalDate;"),
        )?,
        internal_iso_datetime: j.static_method(
            internal,
            c!("isoDateTime"),
            c!("(Ljava/lang/Object;)Ljava/lang/String;"),
        )?,
        internal_iso_date: j.static_method(
            internal,
            c!("isoDate"),
            c!("(Ljava/time/LocalDate;)Ljava/lang/String;"),
        )?,
        internal_ndarray: j.static_method(
            internal,
            c!("ndarray"),
            c!("(Ljava/lang/String;[JZLjava/lang/Object;)Lorg/srpy/NDArray;"),
        )?,
        internal_tuple: j.static_method(
            internal,
            c!("tuple"),
            c!("([Ljava/lang/Object;)Lorg/srpy/Tuple;"),
        )?,
        ex_srpy: j.class(c!("org/srpy/SRPyException"))?,
        ex_remote,
        ex_remote_ctor: j.method(
            ex_remote,
            c!("<init>"),
            c!("(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;)V"),
        )?,
        ex_engine_died: j.class(c!("org/srpy/EngineDiedException"))?,
        ex_timeout: j.class(c!("org/srpy/SRPyTimeoutException"))?,
        ex_interrupted: j.class(c!("org/srpy/InterruptedRemoteException"))?,
        ex_auth: j.class(c!("org/srpy/AuthException"))?,
        ex_protocol: j.class(c!("org/srpy/ProtocolException"))?,
        ex_not_transferable: j.class(c!("org/srpy/NotTransferableException"))?,
        ex_server_not_found: j.class(c!("org/srpy/ServerNotFoundException"))?,
        ex_unsupported: j.class(c!("org/srpy/UnsupportedOpException"))?,
        ex_no_such_engine: j.class(c!("org/srpy/NoSuchEngineException"))?,
        ex_illegal_argument: j.class(c!("java/lang/IllegalArgumentException"))?,
        ex_illegal_state: j.class(c!("java/lang/IllegalStateException"))?,
    };
    j.del(stdout);
    j.del(stderr);
    // A second init racing this one keeps the first cache (the globals of
    // the loser leak once, harmlessly).
    let _ = CACHE.set(cache);
    Ok(())
}

#[allow(dead_code)]
pub fn null() -> jobject {
    ptr::null_mut::<c_void>() as jobject
}
