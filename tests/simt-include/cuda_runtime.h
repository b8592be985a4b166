/* cuda_runtime.h, as tests/simt-runtime.h provides it: the kernels run on the host. */
#include "tests/simt-runtime.h"
