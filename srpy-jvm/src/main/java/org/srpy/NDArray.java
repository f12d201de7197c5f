package org.srpy;

import java.util.Arrays;
import java.util.Objects;

/**
 * An n-dimensional numeric array: numpy's {@code ndarray} of a supported
 * dtype. The elements live in one primitive Java array in the memory order
 * named by {@link #isFortranOrder()} (row-major when false).
 *
 * <table>
 * <caption>dtype and Java element type</caption>
 * <tr><th>dtype</th><th>data</th></tr>
 * <tr><td>float64</td><td>double[]</td></tr>
 * <tr><td>float32</td><td>float[]</td></tr>
 * <tr><td>int64, uint64</td><td>long[]</td></tr>
 * <tr><td>int32, uint32</td><td>int[]</td></tr>
 * <tr><td>int16, uint16, float16</td><td>short[] (float16: the IEEE half bits)</td></tr>
 * <tr><td>int8, uint8</td><td>byte[]</td></tr>
 * <tr><td>bool</td><td>boolean[]</td></tr>
 * </table>
 *
 * Unsigned dtypes keep their bits in the signed Java type of the same width
 * (use {@code Byte.toUnsignedInt} etc. to read them). A plain primitive array
 * ({@code double[]}, {@code int[]}, …; not {@code byte[]}, which is
 * {@code bytes}) passed as a value travels as a one-dimensional array.
 */
public final class NDArray {
    private final String dtype;
    private final long[] shape;
    private final boolean fortranOrder;
    private final Object data;

    /**
     * @param dtype numpy dtype name ({@code "float64"}, {@code "int32"}, …)
     * @param shape dimensions (an empty shape is a 0-d array of one element)
     * @param fortranOrder column-major when true, row-major when false
     * @param data primitive array of the dtype's Java type, with exactly
     *        product(shape) elements (not copied)
     */
    public NDArray(String dtype, long[] shape, boolean fortranOrder, Object data) {
        this.dtype = Objects.requireNonNull(dtype, "dtype");
        this.shape = Objects.requireNonNull(shape, "shape").clone();
        this.fortranOrder = fortranOrder;
        this.data = Objects.requireNonNull(data, "data");
        Class<?> want = elementArrayType(dtype);
        if (want == null) {
            throw new IllegalArgumentException("unsupported dtype '" + dtype + "'");
        }
        if (data.getClass() != want) {
            throw new IllegalArgumentException("dtype " + dtype + " needs a " + want.getSimpleName()
                    + ", got " + data.getClass().getSimpleName());
        }
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        int len = java.lang.reflect.Array.getLength(data);
        if (n != len) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n
                    + " elements, the data has " + len);
        }
    }

    /** A row-major float64 array; without a shape, one-dimensional. */
    public static NDArray of(double[] data, long... shape) {
        return new NDArray("float64", shapeOr(shape, data.length), false, data);
    }

    public static NDArray of(float[] data, long... shape) {
        return new NDArray("float32", shapeOr(shape, data.length), false, data);
    }

    public static NDArray of(long[] data, long... shape) {
        return new NDArray("int64", shapeOr(shape, data.length), false, data);
    }

    public static NDArray of(int[] data, long... shape) {
        return new NDArray("int32", shapeOr(shape, data.length), false, data);
    }

    public static NDArray of(short[] data, long... shape) {
        return new NDArray("int16", shapeOr(shape, data.length), false, data);
    }

    /** An int8 array (a plain {@code byte[]} value is Python {@code bytes} instead). */
    public static NDArray of(byte[] data, long... shape) {
        return new NDArray("int8", shapeOr(shape, data.length), false, data);
    }

    public static NDArray of(boolean[] data, long... shape) {
        return new NDArray("bool", shapeOr(shape, data.length), false, data);
    }

    private static long[] shapeOr(long[] shape, int len) {
        return shape.length == 0 ? new long[] {len} : shape;
    }

    /** The Java array class holding a dtype's elements, or null if unknown. */
    static Class<?> elementArrayType(String dtype) {
        switch (dtype) {
            case "float64": return double[].class;
            case "float32": return float[].class;
            case "int64": case "uint64": return long[].class;
            case "int32": case "uint32": return int[].class;
            case "int16": case "uint16": case "float16": return short[].class;
            case "int8": case "uint8": return byte[].class;
            case "bool": return boolean[].class;
            default: return null;
        }
    }

    public String getDtype() {
        return dtype;
    }

    /** The dimensions (a copy). */
    public long[] getShape() {
        return shape.clone();
    }

    public int getNdim() {
        return shape.length;
    }

    public boolean isFortranOrder() {
        return fortranOrder;
    }

    /** The primitive array itself (not a copy). */
    public Object getData() {
        return data;
    }

    /** Number of elements. */
    public int size() {
        return java.lang.reflect.Array.getLength(data);
    }

    public double[] doubles() {
        return (double[]) data;
    }

    public float[] floats() {
        return (float[]) data;
    }

    public long[] longs() {
        return (long[]) data;
    }

    public int[] ints() {
        return (int[]) data;
    }

    public short[] shorts() {
        return (short[]) data;
    }

    public byte[] bytes() {
        return (byte[]) data;
    }

    public boolean[] booleans() {
        return (boolean[]) data;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof NDArray)) {
            return false;
        }
        NDArray a = (NDArray) o;
        return dtype.equals(a.dtype) && fortranOrder == a.fortranOrder && Arrays.equals(shape, a.shape)
                && Arrays.deepEquals(new Object[] {data}, new Object[] {a.data});
    }

    @Override
    public int hashCode() {
        return Objects.hash(dtype, fortranOrder, Arrays.hashCode(shape), Arrays.deepHashCode(new Object[] {data}));
    }

    @Override
    public String toString() {
        String body = Arrays.deepToString(new Object[] {data});
        body = body.substring(1, body.length() - 1);
        if (body.length() > 200) {
            body = body.substring(0, 200) + "…";
        }
        return "NDArray(" + dtype + ", shape=" + Arrays.toString(shape) + (fortranOrder ? ", F" : "") + ", " + body + ")";
    }
}
