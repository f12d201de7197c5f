package org.srpy;

/** A complex number, Python's {@code complex}. Immutable. */
public final class Complex {
    private final double re;
    private final double im;

    public Complex(double re, double im) {
        this.re = re;
        this.im = im;
    }

    public double getReal() {
        return re;
    }

    public double getImag() {
        return im;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Complex)) {
            return false;
        }
        Complex c = (Complex) o;
        return Double.doubleToLongBits(re) == Double.doubleToLongBits(c.re)
                && Double.doubleToLongBits(im) == Double.doubleToLongBits(c.im);
    }

    @Override
    public int hashCode() {
        return Double.hashCode(re) * 31 + Double.hashCode(im);
    }

    /** As Python writes it: {@code (1.5-2j)}. */
    @Override
    public String toString() {
        String sign = (im < 0 || (im == 0 && 1 / im < 0)) ? "-" : "+";
        return "(" + re + sign + Math.abs(im) + "j)";
    }
}
