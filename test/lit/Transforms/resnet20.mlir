// resnet20 (3 stages x 3 BasicBlocks, 1x1 conv + batch_norm downsample
// shortcuts) on 1x28x28 inputs, ops in PyTorch's forward order. kiln-fuse must
// leave no standalone batch_norm, relu or add: stem conv2d+batch_norm+relu,
// each block [conv2d+batch_norm+relu] [conv2d+batch_norm+add+relu], plus
// [conv2d+batch_norm] for a downsample shortcut, then pooling and linear.
// The arena must equal the peak: three 16x28x28 activations (block input,
// first conv's output, block output) = 3 x 50176 B/item.
// RUN: kiln-opt -mlir-print-op-on-diagnostic=false -kiln-fuse=report -kiln-plan-memory=report %s -o /dev/null 2>&1 | FileCheck %s
// RUN: kiln-opt -kiln-fuse -kiln-plan-memory %s | FileCheck %s --check-prefix=IR --strict-whitespace

// CHECK:      remark: kiln-fuse: 23 kernels
// CHECK:      note: resnet20_k0 (out_fusible): conv2d+batch_norm+relu
// CHECK:      note: resnet20_k1 (out_fusible): conv2d+batch_norm+relu
// CHECK:      note: resnet20_k2 (out_fusible): conv2d+batch_norm+add+relu
// CHECK:      note: resnet20_k3 (out_fusible): conv2d+batch_norm+relu
// CHECK:      note: resnet20_k4 (out_fusible): conv2d+batch_norm+add+relu
// CHECK:      note: resnet20_k5 (out_fusible): conv2d+batch_norm+relu
// CHECK:      note: resnet20_k6 (out_fusible): conv2d+batch_norm+add+relu
// CHECK:      note: resnet20_k7 (out_fusible): conv2d+batch_norm+relu
// CHECK:      note: resnet20_k8 (out_fusible): conv2d+batch_norm{{$}}
// CHECK:      note: resnet20_k9 (out_fusible): conv2d+batch_norm+add+relu
// CHECK:      note: resnet20_k10 (out_fusible): conv2d+batch_norm+relu
// CHECK:      note: resnet20_k11 (out_fusible): conv2d+batch_norm+add+relu
// CHECK:      note: resnet20_k12 (out_fusible): conv2d+batch_norm+relu
// CHECK:      note: resnet20_k13 (out_fusible): conv2d+batch_norm+add+relu
// CHECK:      note: resnet20_k14 (out_fusible): conv2d+batch_norm+relu
// CHECK:      note: resnet20_k15 (out_fusible): conv2d+batch_norm{{$}}
// CHECK:      note: resnet20_k16 (out_fusible): conv2d+batch_norm+add+relu
// CHECK:      note: resnet20_k17 (out_fusible): conv2d+batch_norm+relu
// CHECK:      note: resnet20_k18 (out_fusible): conv2d+batch_norm+add+relu
// CHECK:      note: resnet20_k19 (out_fusible): conv2d+batch_norm+relu
// CHECK:      note: resnet20_k20 (out_fusible): conv2d+batch_norm+add+relu
// CHECK:      note: resnet20_k21 (reduction): global_avg_pool
// CHECK:      note: resnet20_k22 (out_fusible): linear
// CHECK:      remark: arena: 150528 B/item (peak live 150528 B/item), 0 B fixed, 23 kernels; without reuse 614912 B/item

// IR-LABEL: func.func @resnet20
// IR-SAME:    kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 150528 : i64, kiln.peak_bytes_per_item = 150528 : i64
// IR-NOT:   {{^    %.* = kiln\.(conv2d|batch_norm|relu|add|global_avg_pool|linear)}}
// IR:       kiln.flatten {{.*}} {kiln.buffer = "arena"
// IR:       kiln.kernel "resnet20_k22" kind("out_fusible") {{.*}} attributes {kiln.buffer = "output", kiln.output_index = 0 : i64}

func.func @resnet20(%x: tensor<?x1x28x28xf32>) -> tensor<?x10xf32> {
  %v1 = kiln.parameter "conv1.weight" : tensor<16x1x3x3xf32>
  %v2 = kiln.conv2d %x, %v1 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x1x28x28xf32>, tensor<16x1x3x3xf32>) -> tensor<?x16x28x28xf32>
  %v3 = kiln.parameter "bn1.weight" : tensor<16xf32>
  %v4 = kiln.parameter "bn1.bias" : tensor<16xf32>
  %v5 = kiln.parameter "bn1.running_mean" : tensor<16xf32>
  %v6 = kiln.parameter "bn1.running_var" : tensor<16xf32>
  %v7 = kiln.batch_norm %v2, %v3, %v4, %v5, %v6 : (tensor<?x16x28x28xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x28x28xf32>
  %v8 = kiln.relu %v7 : (tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %v9 = kiln.parameter "layer1.0.conv1.weight" : tensor<16x16x3x3xf32>
  %v10 = kiln.conv2d %v8, %v9 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x16x28x28xf32>, tensor<16x16x3x3xf32>) -> tensor<?x16x28x28xf32>
  %v11 = kiln.parameter "layer1.0.bn1.weight" : tensor<16xf32>
  %v12 = kiln.parameter "layer1.0.bn1.bias" : tensor<16xf32>
  %v13 = kiln.parameter "layer1.0.bn1.running_mean" : tensor<16xf32>
  %v14 = kiln.parameter "layer1.0.bn1.running_var" : tensor<16xf32>
  %v15 = kiln.batch_norm %v10, %v11, %v12, %v13, %v14 : (tensor<?x16x28x28xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x28x28xf32>
  %v16 = kiln.relu %v15 : (tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %v17 = kiln.parameter "layer1.0.conv2.weight" : tensor<16x16x3x3xf32>
  %v18 = kiln.conv2d %v16, %v17 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x16x28x28xf32>, tensor<16x16x3x3xf32>) -> tensor<?x16x28x28xf32>
  %v19 = kiln.parameter "layer1.0.bn2.weight" : tensor<16xf32>
  %v20 = kiln.parameter "layer1.0.bn2.bias" : tensor<16xf32>
  %v21 = kiln.parameter "layer1.0.bn2.running_mean" : tensor<16xf32>
  %v22 = kiln.parameter "layer1.0.bn2.running_var" : tensor<16xf32>
  %v23 = kiln.batch_norm %v18, %v19, %v20, %v21, %v22 : (tensor<?x16x28x28xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x28x28xf32>
  %v24 = kiln.add %v23, %v8 : (tensor<?x16x28x28xf32>, tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %v25 = kiln.relu %v24 : (tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %v26 = kiln.parameter "layer1.1.conv1.weight" : tensor<16x16x3x3xf32>
  %v27 = kiln.conv2d %v25, %v26 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x16x28x28xf32>, tensor<16x16x3x3xf32>) -> tensor<?x16x28x28xf32>
  %v28 = kiln.parameter "layer1.1.bn1.weight" : tensor<16xf32>
  %v29 = kiln.parameter "layer1.1.bn1.bias" : tensor<16xf32>
  %v30 = kiln.parameter "layer1.1.bn1.running_mean" : tensor<16xf32>
  %v31 = kiln.parameter "layer1.1.bn1.running_var" : tensor<16xf32>
  %v32 = kiln.batch_norm %v27, %v28, %v29, %v30, %v31 : (tensor<?x16x28x28xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x28x28xf32>
  %v33 = kiln.relu %v32 : (tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %v34 = kiln.parameter "layer1.1.conv2.weight" : tensor<16x16x3x3xf32>
  %v35 = kiln.conv2d %v33, %v34 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x16x28x28xf32>, tensor<16x16x3x3xf32>) -> tensor<?x16x28x28xf32>
  %v36 = kiln.parameter "layer1.1.bn2.weight" : tensor<16xf32>
  %v37 = kiln.parameter "layer1.1.bn2.bias" : tensor<16xf32>
  %v38 = kiln.parameter "layer1.1.bn2.running_mean" : tensor<16xf32>
  %v39 = kiln.parameter "layer1.1.bn2.running_var" : tensor<16xf32>
  %v40 = kiln.batch_norm %v35, %v36, %v37, %v38, %v39 : (tensor<?x16x28x28xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x28x28xf32>
  %v41 = kiln.add %v40, %v25 : (tensor<?x16x28x28xf32>, tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %v42 = kiln.relu %v41 : (tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %v43 = kiln.parameter "layer1.2.conv1.weight" : tensor<16x16x3x3xf32>
  %v44 = kiln.conv2d %v42, %v43 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x16x28x28xf32>, tensor<16x16x3x3xf32>) -> tensor<?x16x28x28xf32>
  %v45 = kiln.parameter "layer1.2.bn1.weight" : tensor<16xf32>
  %v46 = kiln.parameter "layer1.2.bn1.bias" : tensor<16xf32>
  %v47 = kiln.parameter "layer1.2.bn1.running_mean" : tensor<16xf32>
  %v48 = kiln.parameter "layer1.2.bn1.running_var" : tensor<16xf32>
  %v49 = kiln.batch_norm %v44, %v45, %v46, %v47, %v48 : (tensor<?x16x28x28xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x28x28xf32>
  %v50 = kiln.relu %v49 : (tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %v51 = kiln.parameter "layer1.2.conv2.weight" : tensor<16x16x3x3xf32>
  %v52 = kiln.conv2d %v50, %v51 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x16x28x28xf32>, tensor<16x16x3x3xf32>) -> tensor<?x16x28x28xf32>
  %v53 = kiln.parameter "layer1.2.bn2.weight" : tensor<16xf32>
  %v54 = kiln.parameter "layer1.2.bn2.bias" : tensor<16xf32>
  %v55 = kiln.parameter "layer1.2.bn2.running_mean" : tensor<16xf32>
  %v56 = kiln.parameter "layer1.2.bn2.running_var" : tensor<16xf32>
  %v57 = kiln.batch_norm %v52, %v53, %v54, %v55, %v56 : (tensor<?x16x28x28xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x28x28xf32>
  %v58 = kiln.add %v57, %v42 : (tensor<?x16x28x28xf32>, tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %v59 = kiln.relu %v58 : (tensor<?x16x28x28xf32>) -> tensor<?x16x28x28xf32>
  %v60 = kiln.parameter "layer2.0.conv1.weight" : tensor<32x16x3x3xf32>
  %v61 = kiln.conv2d %v59, %v60 {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x16x28x28xf32>, tensor<32x16x3x3xf32>) -> tensor<?x32x14x14xf32>
  %v62 = kiln.parameter "layer2.0.bn1.weight" : tensor<32xf32>
  %v63 = kiln.parameter "layer2.0.bn1.bias" : tensor<32xf32>
  %v64 = kiln.parameter "layer2.0.bn1.running_mean" : tensor<32xf32>
  %v65 = kiln.parameter "layer2.0.bn1.running_var" : tensor<32xf32>
  %v66 = kiln.batch_norm %v61, %v62, %v63, %v64, %v65 : (tensor<?x32x14x14xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32x14x14xf32>
  %v67 = kiln.relu %v66 : (tensor<?x32x14x14xf32>) -> tensor<?x32x14x14xf32>
  %v68 = kiln.parameter "layer2.0.conv2.weight" : tensor<32x32x3x3xf32>
  %v69 = kiln.conv2d %v67, %v68 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x32x14x14xf32>, tensor<32x32x3x3xf32>) -> tensor<?x32x14x14xf32>
  %v70 = kiln.parameter "layer2.0.bn2.weight" : tensor<32xf32>
  %v71 = kiln.parameter "layer2.0.bn2.bias" : tensor<32xf32>
  %v72 = kiln.parameter "layer2.0.bn2.running_mean" : tensor<32xf32>
  %v73 = kiln.parameter "layer2.0.bn2.running_var" : tensor<32xf32>
  %v74 = kiln.batch_norm %v69, %v70, %v71, %v72, %v73 : (tensor<?x32x14x14xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32x14x14xf32>
  %v75 = kiln.parameter "layer2.0.shortcut.0.weight" : tensor<32x16x1x1xf32>
  %v76 = kiln.conv2d %v59, %v75 {padding = array<i64: 0, 0>, strides = array<i64: 2, 2>} : (tensor<?x16x28x28xf32>, tensor<32x16x1x1xf32>) -> tensor<?x32x14x14xf32>
  %v77 = kiln.parameter "layer2.0.shortcut.1.weight" : tensor<32xf32>
  %v78 = kiln.parameter "layer2.0.shortcut.1.bias" : tensor<32xf32>
  %v79 = kiln.parameter "layer2.0.shortcut.1.running_mean" : tensor<32xf32>
  %v80 = kiln.parameter "layer2.0.shortcut.1.running_var" : tensor<32xf32>
  %v81 = kiln.batch_norm %v76, %v77, %v78, %v79, %v80 : (tensor<?x32x14x14xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32x14x14xf32>
  %v82 = kiln.add %v74, %v81 : (tensor<?x32x14x14xf32>, tensor<?x32x14x14xf32>) -> tensor<?x32x14x14xf32>
  %v83 = kiln.relu %v82 : (tensor<?x32x14x14xf32>) -> tensor<?x32x14x14xf32>
  %v84 = kiln.parameter "layer2.1.conv1.weight" : tensor<32x32x3x3xf32>
  %v85 = kiln.conv2d %v83, %v84 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x32x14x14xf32>, tensor<32x32x3x3xf32>) -> tensor<?x32x14x14xf32>
  %v86 = kiln.parameter "layer2.1.bn1.weight" : tensor<32xf32>
  %v87 = kiln.parameter "layer2.1.bn1.bias" : tensor<32xf32>
  %v88 = kiln.parameter "layer2.1.bn1.running_mean" : tensor<32xf32>
  %v89 = kiln.parameter "layer2.1.bn1.running_var" : tensor<32xf32>
  %v90 = kiln.batch_norm %v85, %v86, %v87, %v88, %v89 : (tensor<?x32x14x14xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32x14x14xf32>
  %v91 = kiln.relu %v90 : (tensor<?x32x14x14xf32>) -> tensor<?x32x14x14xf32>
  %v92 = kiln.parameter "layer2.1.conv2.weight" : tensor<32x32x3x3xf32>
  %v93 = kiln.conv2d %v91, %v92 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x32x14x14xf32>, tensor<32x32x3x3xf32>) -> tensor<?x32x14x14xf32>
  %v94 = kiln.parameter "layer2.1.bn2.weight" : tensor<32xf32>
  %v95 = kiln.parameter "layer2.1.bn2.bias" : tensor<32xf32>
  %v96 = kiln.parameter "layer2.1.bn2.running_mean" : tensor<32xf32>
  %v97 = kiln.parameter "layer2.1.bn2.running_var" : tensor<32xf32>
  %v98 = kiln.batch_norm %v93, %v94, %v95, %v96, %v97 : (tensor<?x32x14x14xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32x14x14xf32>
  %v99 = kiln.add %v98, %v83 : (tensor<?x32x14x14xf32>, tensor<?x32x14x14xf32>) -> tensor<?x32x14x14xf32>
  %v100 = kiln.relu %v99 : (tensor<?x32x14x14xf32>) -> tensor<?x32x14x14xf32>
  %v101 = kiln.parameter "layer2.2.conv1.weight" : tensor<32x32x3x3xf32>
  %v102 = kiln.conv2d %v100, %v101 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x32x14x14xf32>, tensor<32x32x3x3xf32>) -> tensor<?x32x14x14xf32>
  %v103 = kiln.parameter "layer2.2.bn1.weight" : tensor<32xf32>
  %v104 = kiln.parameter "layer2.2.bn1.bias" : tensor<32xf32>
  %v105 = kiln.parameter "layer2.2.bn1.running_mean" : tensor<32xf32>
  %v106 = kiln.parameter "layer2.2.bn1.running_var" : tensor<32xf32>
  %v107 = kiln.batch_norm %v102, %v103, %v104, %v105, %v106 : (tensor<?x32x14x14xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32x14x14xf32>
  %v108 = kiln.relu %v107 : (tensor<?x32x14x14xf32>) -> tensor<?x32x14x14xf32>
  %v109 = kiln.parameter "layer2.2.conv2.weight" : tensor<32x32x3x3xf32>
  %v110 = kiln.conv2d %v108, %v109 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x32x14x14xf32>, tensor<32x32x3x3xf32>) -> tensor<?x32x14x14xf32>
  %v111 = kiln.parameter "layer2.2.bn2.weight" : tensor<32xf32>
  %v112 = kiln.parameter "layer2.2.bn2.bias" : tensor<32xf32>
  %v113 = kiln.parameter "layer2.2.bn2.running_mean" : tensor<32xf32>
  %v114 = kiln.parameter "layer2.2.bn2.running_var" : tensor<32xf32>
  %v115 = kiln.batch_norm %v110, %v111, %v112, %v113, %v114 : (tensor<?x32x14x14xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32x14x14xf32>
  %v116 = kiln.add %v115, %v100 : (tensor<?x32x14x14xf32>, tensor<?x32x14x14xf32>) -> tensor<?x32x14x14xf32>
  %v117 = kiln.relu %v116 : (tensor<?x32x14x14xf32>) -> tensor<?x32x14x14xf32>
  %v118 = kiln.parameter "layer3.0.conv1.weight" : tensor<64x32x3x3xf32>
  %v119 = kiln.conv2d %v117, %v118 {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x32x14x14xf32>, tensor<64x32x3x3xf32>) -> tensor<?x64x7x7xf32>
  %v120 = kiln.parameter "layer3.0.bn1.weight" : tensor<64xf32>
  %v121 = kiln.parameter "layer3.0.bn1.bias" : tensor<64xf32>
  %v122 = kiln.parameter "layer3.0.bn1.running_mean" : tensor<64xf32>
  %v123 = kiln.parameter "layer3.0.bn1.running_var" : tensor<64xf32>
  %v124 = kiln.batch_norm %v119, %v120, %v121, %v122, %v123 : (tensor<?x64x7x7xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64x7x7xf32>
  %v125 = kiln.relu %v124 : (tensor<?x64x7x7xf32>) -> tensor<?x64x7x7xf32>
  %v126 = kiln.parameter "layer3.0.conv2.weight" : tensor<64x64x3x3xf32>
  %v127 = kiln.conv2d %v125, %v126 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x64x7x7xf32>, tensor<64x64x3x3xf32>) -> tensor<?x64x7x7xf32>
  %v128 = kiln.parameter "layer3.0.bn2.weight" : tensor<64xf32>
  %v129 = kiln.parameter "layer3.0.bn2.bias" : tensor<64xf32>
  %v130 = kiln.parameter "layer3.0.bn2.running_mean" : tensor<64xf32>
  %v131 = kiln.parameter "layer3.0.bn2.running_var" : tensor<64xf32>
  %v132 = kiln.batch_norm %v127, %v128, %v129, %v130, %v131 : (tensor<?x64x7x7xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64x7x7xf32>
  %v133 = kiln.parameter "layer3.0.shortcut.0.weight" : tensor<64x32x1x1xf32>
  %v134 = kiln.conv2d %v117, %v133 {padding = array<i64: 0, 0>, strides = array<i64: 2, 2>} : (tensor<?x32x14x14xf32>, tensor<64x32x1x1xf32>) -> tensor<?x64x7x7xf32>
  %v135 = kiln.parameter "layer3.0.shortcut.1.weight" : tensor<64xf32>
  %v136 = kiln.parameter "layer3.0.shortcut.1.bias" : tensor<64xf32>
  %v137 = kiln.parameter "layer3.0.shortcut.1.running_mean" : tensor<64xf32>
  %v138 = kiln.parameter "layer3.0.shortcut.1.running_var" : tensor<64xf32>
  %v139 = kiln.batch_norm %v134, %v135, %v136, %v137, %v138 : (tensor<?x64x7x7xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64x7x7xf32>
  %v140 = kiln.add %v132, %v139 : (tensor<?x64x7x7xf32>, tensor<?x64x7x7xf32>) -> tensor<?x64x7x7xf32>
  %v141 = kiln.relu %v140 : (tensor<?x64x7x7xf32>) -> tensor<?x64x7x7xf32>
  %v142 = kiln.parameter "layer3.1.conv1.weight" : tensor<64x64x3x3xf32>
  %v143 = kiln.conv2d %v141, %v142 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x64x7x7xf32>, tensor<64x64x3x3xf32>) -> tensor<?x64x7x7xf32>
  %v144 = kiln.parameter "layer3.1.bn1.weight" : tensor<64xf32>
  %v145 = kiln.parameter "layer3.1.bn1.bias" : tensor<64xf32>
  %v146 = kiln.parameter "layer3.1.bn1.running_mean" : tensor<64xf32>
  %v147 = kiln.parameter "layer3.1.bn1.running_var" : tensor<64xf32>
  %v148 = kiln.batch_norm %v143, %v144, %v145, %v146, %v147 : (tensor<?x64x7x7xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64x7x7xf32>
  %v149 = kiln.relu %v148 : (tensor<?x64x7x7xf32>) -> tensor<?x64x7x7xf32>
  %v150 = kiln.parameter "layer3.1.conv2.weight" : tensor<64x64x3x3xf32>
  %v151 = kiln.conv2d %v149, %v150 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x64x7x7xf32>, tensor<64x64x3x3xf32>) -> tensor<?x64x7x7xf32>
  %v152 = kiln.parameter "layer3.1.bn2.weight" : tensor<64xf32>
  %v153 = kiln.parameter "layer3.1.bn2.bias" : tensor<64xf32>
  %v154 = kiln.parameter "layer3.1.bn2.running_mean" : tensor<64xf32>
  %v155 = kiln.parameter "layer3.1.bn2.running_var" : tensor<64xf32>
  %v156 = kiln.batch_norm %v151, %v152, %v153, %v154, %v155 : (tensor<?x64x7x7xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64x7x7xf32>
  %v157 = kiln.add %v156, %v141 : (tensor<?x64x7x7xf32>, tensor<?x64x7x7xf32>) -> tensor<?x64x7x7xf32>
  %v158 = kiln.relu %v157 : (tensor<?x64x7x7xf32>) -> tensor<?x64x7x7xf32>
  %v159 = kiln.parameter "layer3.2.conv1.weight" : tensor<64x64x3x3xf32>
  %v160 = kiln.conv2d %v158, %v159 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x64x7x7xf32>, tensor<64x64x3x3xf32>) -> tensor<?x64x7x7xf32>
  %v161 = kiln.parameter "layer3.2.bn1.weight" : tensor<64xf32>
  %v162 = kiln.parameter "layer3.2.bn1.bias" : tensor<64xf32>
  %v163 = kiln.parameter "layer3.2.bn1.running_mean" : tensor<64xf32>
  %v164 = kiln.parameter "layer3.2.bn1.running_var" : tensor<64xf32>
  %v165 = kiln.batch_norm %v160, %v161, %v162, %v163, %v164 : (tensor<?x64x7x7xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64x7x7xf32>
  %v166 = kiln.relu %v165 : (tensor<?x64x7x7xf32>) -> tensor<?x64x7x7xf32>
  %v167 = kiln.parameter "layer3.2.conv2.weight" : tensor<64x64x3x3xf32>
  %v168 = kiln.conv2d %v166, %v167 {padding = array<i64: 1, 1>, strides = array<i64: 1, 1>} : (tensor<?x64x7x7xf32>, tensor<64x64x3x3xf32>) -> tensor<?x64x7x7xf32>
  %v169 = kiln.parameter "layer3.2.bn2.weight" : tensor<64xf32>
  %v170 = kiln.parameter "layer3.2.bn2.bias" : tensor<64xf32>
  %v171 = kiln.parameter "layer3.2.bn2.running_mean" : tensor<64xf32>
  %v172 = kiln.parameter "layer3.2.bn2.running_var" : tensor<64xf32>
  %v173 = kiln.batch_norm %v168, %v169, %v170, %v171, %v172 : (tensor<?x64x7x7xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64x7x7xf32>
  %v174 = kiln.add %v173, %v158 : (tensor<?x64x7x7xf32>, tensor<?x64x7x7xf32>) -> tensor<?x64x7x7xf32>
  %v175 = kiln.relu %v174 : (tensor<?x64x7x7xf32>) -> tensor<?x64x7x7xf32>
  %v176 = kiln.global_avg_pool %v175 : (tensor<?x64x7x7xf32>) -> tensor<?x64x1x1xf32>
  %v177 = kiln.flatten %v176 : (tensor<?x64x1x1xf32>) -> tensor<?x64xf32>
  %v178 = kiln.parameter "fc.weight" : tensor<10x64xf32>
  %v179 = kiln.parameter "fc.bias" : tensor<10xf32>
  %v180 = kiln.linear %v177, %v178, %v179 : (tensor<?x64xf32>, tensor<10x64xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  return %v180 : tensor<?x10xf32>
}
