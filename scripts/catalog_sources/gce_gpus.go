gpuPrices = map[string]float64{
	"nvidia-tesla-t4": 0.35,
	"nvidia-tesla-p4": 0.6,
	"nvidia-tesla-v100": 2.48,
	"nvidia-tesla-p100": 1.46,
}
