package media

import (
	"bufio"
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// MaxImagePixels is the most pixels an image may have: its header is
// read before its pixels, and a larger one is refused rather than
// decoded, so that a small file cannot claim gigabytes of memory (a
// decompression bomb). 50 megapixels holds a 50 MP phone camera's photo.
const MaxImagePixels = 50_000_000

// ThumbnailSize is the box, in pixels, a thumbnail fits in: as small as
// the JpegThumbnail WhatsApp's own apps send.
const ThumbnailSize = 72

// imageCodec reads one image format.
type imageCodec struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// imageCodecs are the image formats WhatsApp shows, by detected mime.
var imageCodecs = map[string]imageCodec{
	"image/jpeg": {jpeg.DecodeConfig, jpeg.Decode},
	"image/png":  {png.DecodeConfig, png.Decode},
	"image/gif":  {gif.DecodeConfig, gif.Decode},
	"image/webp": {webp.DecodeConfig, webp.Decode},
}

// prepareImage checks that f is a JPEG, PNG, GIF or WebP image of at most
// MaxImagePixels that decodes, and measures it and makes its thumbnail.
func prepareImage(f *File, given declared, detected string) error {
	codec, ok := imageCodecs[detected]
	if !ok {
		return invalid("the image is not a JPEG, PNG, GIF or WebP image: its content is %s", detected)
	}
	if err := given.check(detected); err != nil {
		return err
	}
	cfg, err := codec.config(bufio.NewReader(f.Reader()))
	if err != nil {
		return invalid("the image cannot be decoded: %v", err)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > MaxImagePixels {
		return invalid("the image is %dx%d, %.1f megapixels: over the limit of %d megapixels",
			cfg.Width, cfg.Height, float64(px)/1e6, MaxImagePixels/1_000_000)
	}
	img, err := codec.decode(bufio.NewReaderSize(f.Reader(), copyBufSize))
	if err != nil {
		return invalid("the image cannot be decoded: %v", err)
	}
	f.Mime, f.Width, f.Height = detected, cfg.Width, cfg.Height
	f.Thumbnail, err = thumbnail(img)
	return err
}

// thumbnail returns img scaled to fit within ThumbnailSize, as a JPEG,
// transparency shown over white. A large image is first shrunk
// coarsely to four times the thumbnail's size, so that the fine kernel
// runs over few pixels: over all of a 50-megapixel photo it takes
// seconds.
func thumbnail(img image.Image) ([]byte, error) {
	w, h := fit(img.Bounds().Dx(), img.Bounds().Dy(), ThumbnailSize)
	src := img
	if b := img.Bounds(); b.Dx() > 4*w || b.Dy() > 4*h {
		mid := image.NewRGBA(image.Rect(0, 0, 4*w, 4*h))
		draw.ApproxBiLinear.Scale(mid, mid.Bounds(), img, b, draw.Src, nil)
		src = mid
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Over, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 75}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fit returns w×h scaled down to fit within box×box, keeping the aspect
// ratio and at least one pixel a side; a smaller size is kept.
func fit(w, h, box int) (int, int) {
	if w <= box && h <= box {
		return w, h
	}
	if w >= h {
		return box, max(1, (h*box+w/2)/w)
	}
	return max(1, (w*box+h/2)/h), box
}
