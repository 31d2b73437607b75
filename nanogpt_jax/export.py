"""Write a trained nanogpt_jax checkpoint as a Hugging Face GPT-2 directory.

  python -m nanogpt_jax.export --out_dir=out-shakespeare-char --hf_dir=hf-shakespeare-char [--which=best|latest]

The result loads with transformers.GPT2LMHeadModel.from_pretrained(hf_dir); where the dataset's
tokenizer is GPT-2's, the tokenizer files are written too (AutoTokenizer.from_pretrained(hf_dir)).
"""
import argparse

from nanogpt_jax.hf import export_hf


def export_checkpoint(out_dir: str, hf_dir: str, which: str = 'best') -> None:
    import jax
    from nanogpt_jax import checkpoint
    cpu_mesh = jax.make_mesh((1, 1, 1), ('data', 'fsdp', 'tensor'), devices=jax.devices('cpu')[:1],
                             axis_types=(jax.sharding.AxisType.Auto,) * 3)
    model_cfg, _, params, meta = checkpoint.load_for_inference(out_dir, which, cpu_mesh)
    model_kwargs = {k: v for k, v in model_cfg.__dict__.items() if k not in ('dropout', 'dtype', 'attention')}
    tokenizer_name = (meta or {}).get('tokenizer', 'gpt2')  # no meta.json: nanoGPT's convention, GPT-2 BPE
    export_hf(params, model_kwargs, hf_dir, tokenizer_name=tokenizer_name)
    print(f"wrote {hf_dir} from the {which} checkpoint in {out_dir} ({model_kwargs['n_layer']} layers, "
          f"n_embd {model_kwargs['n_embd']}, vocab {model_kwargs['vocab_size']}, tokenizer {tokenizer_name})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out_dir', required=True, help='training run directory holding ckpt/')
    parser.add_argument('--hf_dir', required=True, help='directory to write config.json, model.safetensors, ...')
    parser.add_argument('--which', default='best', choices=['best', 'latest'], help="which checkpoint to export: 'best' (lowest val loss) or 'latest' (the newest)")
    args = parser.parse_args(argv)
    export_checkpoint(args.out_dir, args.hf_dir, args.which)


if __name__ == '__main__':
    main()
