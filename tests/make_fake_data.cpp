// tests/make_fake_data.cpp: writes the stripes task (fake_data.h) as an MNIST-format directory, for the CLI tests.
//   make_fake_data DIR [N_TRAIN N_TEST]
#include <cstdlib>
#include <iostream>

#include "fake_data.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    std::cerr << "usage: make_fake_data DIR [N_TRAIN N_TEST]\n";
    return 2;
  }
  const int64_t n_train = argc == 4 ? std::atoll(argv[2]) : 640, n_test = argc == 4 ? std::atoll(argv[3]) : 160;
  tapevit::test::write_stripes_mnist(argv[1], n_train, n_test);
  return 0;
}
