package org.srpy;

import java.util.AbstractList;
import java.util.Arrays;
import java.util.Collection;
import java.util.RandomAccess;

/**
 * An immutable list that travels as a Python {@code tuple} (a plain
 * {@link java.util.List} travels as a {@code list}). Equal to any list with
 * equal elements, as {@link java.util.List#equals} requires.
 */
public final class Tuple extends AbstractList<Object> implements RandomAccess {
    private static final Object[] EMPTY_ITEMS = new Object[0];
    /** The empty tuple. */
    public static final Tuple EMPTY = new Tuple(EMPTY_ITEMS);

    private final Object[] items;

    private Tuple(Object[] items) {
        this.items = items;
    }

    /** A tuple of the given items (copied). */
    public static Tuple of(Object... items) {
        return items.length == 0 ? EMPTY : new Tuple(items.clone());
    }

    /** A tuple of a collection's items, in iteration order. */
    public static Tuple copyOf(Collection<?> items) {
        return items.isEmpty() ? EMPTY : new Tuple(items.toArray());
    }

    /** Wraps an array without copying (the array must not change afterwards). */
    static Tuple wrap(Object[] items) {
        return new Tuple(items);
    }

    @Override
    public Object get(int index) {
        return items[index];
    }

    @Override
    public int size() {
        return items.length;
    }

    @Override
    public Object[] toArray() {
        return items.clone();
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < items.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(items[i] == this ? "(this Tuple)" : String.valueOf(items[i]));
        }
        if (items.length == 1) {
            sb.append(',');
        }
        return sb.append(')').toString();
    }

    @Override
    public int hashCode() {
        return super.hashCode();
    }

    @Override
    public boolean equals(Object o) {
        if (o instanceof Tuple) {
            return Arrays.equals(items, ((Tuple) o).items);
        }
        return super.equals(o);
    }
}
