// tests/make_fake_data.cpp: writes small data sets in the real formats (fake_data.h), for the CLI tests.
//   make_fake_data DIR [N_TRAIN N_TEST]      the stripes task as an MNIST-format directory
//   make_fake_data --cifar DIR PER_FILE       noise in CIFAR-10 binary files (5 train files + test_batch.bin)
//   make_fake_data --folder DIR N_TRAIN N_VAL the stripes task as an image folder (PNG and JPEG, RGB, odd sizes)
#include <cstdlib>
#include <iostream>
#include <string>

#include "fake_data.h"

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--folder") {
    tapevit::test::write_stripes_folder(argv[2], std::atoll(argv[3]), std::atoll(argv[4]));
    return 0;
  }
  if (argc == 4 && std::string(argv[1]) == "--cifar") {
    tapevit::test::write_noise_cifar(argv[2], std::atoll(argv[3]));
    return 0;
  }
  if (argc != 2 && argc != 4) {
    std::cerr << "usage: make_fake_data DIR [N_TRAIN N_TEST] | make_fake_data --cifar DIR PER_FILE\n";
    return 2;
  }
  const int64_t n_train = argc == 4 ? std::atoll(argv[2]) : 640, n_test = argc == 4 ? std::atoll(argv[3]) : 160;
  tapevit::test::write_stripes_mnist(argv[1], n_train, n_test);
  return 0;
}
