"""Integration workload: a few numpy calls (a C API extension from Debian's python3-numpy)."""
import numpy

a = numpy.arange(10, dtype=numpy.float64)
print(float(numpy.add(a, a).sum()), float(numpy.dot(a, a)))
